"""One writer per run folder: `tft run` holds outputs/<run>/.lock while it writes.

A second writer refuses at once with a message naming the holder (pid, host, start time), or waits
for it with `--wait`. A lock whose process is gone (same host, pid not running) was left by a killed
run: it is recognised as stale and taken over. The lock file is created with O_EXCL, so two writers
starting together cannot both get it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from tft_utils.core.io import DataError

LOCK = ".lock"


class RunLocked(DataError):
    """Another live process writes this run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def holder(run_dir: str | os.PathLike) -> dict | None:
    path = Path(run_dir) / LOCK
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _stale(info: dict | None) -> bool:
    if info is None:
        return True  # unreadable: a writer died between create and write
    return info.get("host") == socket.gethostname() and not _alive(int(info.get("pid", -1)))


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, wait: bool = False, poll: float = 2.0, log=print):
    """Hold the run folder's lock for the duration of the block."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    announced = False
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = holder(run_dir)
            if _stale(info):
                if info is None and time.time() - path.stat().st_mtime < 5:
                    time.sleep(0.2)  # just created, not yet written: look again
                    continue
                log(f"taking over a stale lock on {run_dir} (left by {info})")
                path.unlink(missing_ok=True)
                continue
            msg = f"{run_dir} is being written by pid {info['pid']} on {info['host']} since {info['started']}"
            if not wait:
                raise RunLocked(msg + " (use --wait to wait for it, or another --run)") from None
            if not announced:
                log(msg + "; waiting")
                announced = True
            time.sleep(poll)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    try:
        yield me
    finally:
        if holder(run_dir) == me:
            path.unlink(missing_ok=True)
