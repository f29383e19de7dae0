"""Where the SGD files come from, and reading them.

Order: an explicit folder (`--sgd-dir`), else `$TFT_SGD_DIR`, else `data/sgd/`, else download just the
files the study needs from the dataset's public GitHub repository into `data/sgd/` (pinned commit).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from tft_utils.core.io import DataError, atomic_path, read_json
from tft_utils.core.paths import REPO

DEFAULT_DIR = REPO / "data" / "sgd"

# The files holding the single-service dialogues the study uses (see ../shared/sgd/README.md):
# Restaurants_1 train 001-004 + 043, Restaurants_2 dev/test 001 + 004, Hotels_1 train 041-043 + dev 006.
NEEDED_FILES = (
    [f"train/dialogues_{i:03d}.json" for i in (1, 2, 3, 4, 41, 42, 43)]
    + [f"dev/dialogues_{i:03d}.json" for i in (1, 4, 6)]
    + [f"test/dialogues_{i:03d}.json" for i in (1, 4)]
    + [f"{split}/schema.json" for split in ("train", "dev", "test")]
    + [f"sgd_x/data/v{v}/{split}/schema.json" for v in range(1, 6) for split in ("train", "dev")]
)
SPLITS = ("train", "dev", "test")


def _local_name(rel: str) -> str:
    # The repository keeps SGD-X schemas under sgd_x/data/vN; our layout (as in ../shared) is sgd_x/vN.
    return rel.replace("sgd_x/data/", "sgd_x/")


def download_sgd(url: str, dest: str | os.PathLike = DEFAULT_DIR, log=print) -> Path:
    """Download NEEDED_FILES from `url` (a raw-file base URL) into `dest`, verifying each parses."""
    dest = Path(dest)
    log(f"Downloading {len(NEEDED_FILES)} SGD files from {url} into {dest}")
    for rel in NEEDED_FILES:
        target = dest / _local_name(rel)
        if target.exists():
            continue
        src = f"{url.rstrip('/')}/{rel}"
        try:
            with urllib.request.urlopen(src, timeout=60) as resp:
                payload = resp.read()
        except OSError as e:
            raise DataError(f"could not download {src}: {e}") from e
        try:
            json.loads(payload)
        except json.JSONDecodeError as e:
            raise DataError(f"{src}: downloaded file is not valid JSON ({e.msg}); nothing written") from e
        with atomic_path(target) as tmp:
            tmp.write_bytes(payload)
        log(f"  {rel} -> {target} ({len(payload) / 1e6:.1f} MB)")
    return dest


def resolve_sgd_dir(sgd_dir: str | os.PathLike | None = None, url: str | None = None, log=print) -> Path:
    """Find the SGD folder (see module docstring); download into data/sgd/ only as a last resort."""
    for cand, origin in ((sgd_dir, "--sgd-dir"), (os.environ.get("TFT_SGD_DIR"), "$TFT_SGD_DIR")):
        if cand:
            path = Path(cand)
            if not (path / "train").is_dir():
                raise DataError(f"{origin}={path}: not an SGD folder (no train/ inside)")
            return path
    if (DEFAULT_DIR / "train" / "schema.json").exists():
        return DEFAULT_DIR
    if not url:
        raise DataError("no SGD folder: pass --sgd-dir, set $TFT_SGD_DIR, or configure data.sgd_url")
    return download_sgd(url, DEFAULT_DIR, log=log)


def load_dialogues(sgd_dir: str | os.PathLike, service: str, splits=SPLITS) -> list[dict]:
    """Single-service dialogues of `service` (dialogue["services"] == [service]) across `splits`.

    SGD ids repeat across splits, so dev/test ids are prefixed with their split (`dev/1_00001`);
    train ids stay as they are (they are the ids the published benchmark uses).
    """
    return load_dialogues_of(sgd_dir, [service], splits)[service]


def load_dialogues_of(sgd_dir: str | os.PathLike, services, splits=SPLITS) -> dict[str, list[dict]]:
    """`load_dialogues` for several services in one read of the files: service -> its dialogues
    (13 services read one by one parsed every dialogue file 13 times: ~1 min on 2 cores)."""
    sgd_dir = Path(sgd_dir)
    out: dict[str, list[dict]] = {s: [] for s in services}
    for split in splits:
        files = sorted((sgd_dir / split).glob("dialogues_*.json"))
        for path in files:
            data = read_json(path)
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a list of dialogues")
            for i, dlg in enumerate(data):
                if not isinstance(dlg, dict) or "services" not in dlg or "turns" not in dlg:
                    raise DataError(f"{path}: dialogue #{i} lacks 'services' or 'turns'")
                if len(dlg["services"]) != 1 or dlg["services"][0] not in out:
                    continue
                dlg = dict(dlg)
                dlg["dialogue_id"] = (
                    dlg["dialogue_id"] if split == "train" else f"{split}/{dlg['dialogue_id']}"
                )
                dlg["_source"] = str(path)
                out[dlg["services"][0]].append(dlg)
    return out


def load_schema(sgd_dir: str | os.PathLike, service: str, variant: int | None = None) -> dict:
    """The schema of `service` from the first split that has it; `variant` 1..5 reads SGD-X."""
    sgd_dir = Path(sgd_dir)
    if variant is None:
        bases = [sgd_dir]
    else:  # ../shared keeps SGD-X as sgd_x/vN, a clone of the repository as sgd_x/data/vN
        bases = [sgd_dir / "sgd_x" / f"v{variant}", sgd_dir / "sgd_x" / "data" / f"v{variant}"]
    name = service if variant is None else f"{service}{variant}"
    for base in bases:
        for split in SPLITS:
            path = base / split / "schema.json"
            if not path.exists():
                continue
            for svc in read_json(path):
                if svc.get("service_name") == name:
                    return svc
    base = bases[0]
    raise DataError(f"service '{name}' not found in any schema.json under {base}")
