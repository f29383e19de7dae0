"""Provenance carried by every result: resolved params, seed, git commit, package versions, machine.

`machine_info()` is the machine a speed or a score was measured on: platform, CPU model and the ISA
flags that decide torch's CPU speed and default dtype (avx2, avx512f, avx512_bf16, amx_bf16), logical
CPUs, torch's intra-op thread count and the CUDA device, when torch is already imported.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tft_utils.core.paths import REPO

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


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """{"model": CPU model name, "isa": {flag: bool for ISA_FLAGS}} from /proc/cpuinfo (Linux); where
    that file is absent or unreadable the model falls back to `platform.processor()` and each flag is
    None (unknown), never an error. ARM's "Features" line is read like x86's "flags"."""
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if fields.get("flags") or fields.get("features"):
                        break  # the first processor block holds everything needed
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        fields = {}
    model = (
        fields.get("model name")
        or fields.get("hardware")
        or fields.get("cpu model")
        or platform.processor()
        or platform.machine()
        or None
    )
    flags = fields.get("flags") or fields.get("features")
    if flags is None:
        return {"model": model, "isa": {f: None for f in ISA_FLAGS}}
    have = set(flags.split())
    return {"model": model, "isa": {f: f in have for f in ISA_FLAGS}}


def torch_info() -> dict:
    """torch's intra-op threads and the CUDA device name, read only when torch is already imported
    (importing it costs seconds); None where unknown or absent."""
    torch = sys.modules.get("torch")
    out = {"torch_threads": None, "cuda_device": None}
    if torch is None:
        return out
    try:
        out["torch_threads"] = int(torch.get_num_threads())
        if torch.cuda.is_available():
            out["cuda_device"] = torch.cuda.get_device_name(torch.cuda.current_device())
    except Exception:  # a broken or CPU-only build: provenance never fails a run
        pass
    return out


def machine_info() -> dict:
    """What a speed or score was measured on: platform, CPU model and ISA flags, logical CPUs, the
    OMP/MKL thread settings of the environment, torch's threads and CUDA device (`torch_info`)."""
    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_info(),
        "logical_cpus": os.cpu_count(),
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        **torch_info(),
    }


def provenance(params: dict | None = None) -> dict:
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "seed": (params or {}).get("run", {}).get("seed"),
        "params": params,
        "packages": package_versions(),
        "python": platform.python_version(),
        "machine": machine_info(),
    }
