"""Provenance carried by every result: resolved params, seed, git commit, package versions, machine."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "datasets",
    "papermill",
    "openai",
    "rouge-score",
    "gguf",
    "numpy",
    "pandas",
)


def git_commit() -> str:
    """HEAD's commit, with `-dirty` when the work tree has uncommitted changes; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions(names=PACKAGES) -> dict:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(params: dict | None = None) -> dict:
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "seed": (params or {}).get("run", {}).get("seed"),
        "params": params,
        "packages": package_versions(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
    }
