"""One process at a time builds an output that several stages share.

Scenarios run side by side (`tft run --cluster`, or two runs on one machine) share a few outputs: the
tool base in the model cache, the untuned base's predictions in the run folder. The first process to
need one builds it while the others wait for it, then find it current (`tft_utils.core.fresh`) and reuse
it, instead of two of them writing the same partial file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def exclusive(path: str | os.PathLike, what: str, log=print) -> Iterator[None]:
    """Hold PATH.lock for the block; say so (once) when another process holds it and we wait."""
    from filelock import FileLock, Timeout

    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"{what}: another process is building {path}; waiting for it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
