"""Models trained or predicted side by side in worker processes, the torch threads split among them (`run.jobs`).

Two threads do not run one student twice as fast as one thread: on a 2-core AMD EPYC (bf16, LoRA on the top 15
layers, 150 steps each, scripts/bench_jobs.py) two students one after the other on 2 threads took 583.6 s, the
same two side by side on 1 thread each 483.7 s (1.21x). Notebook 05 trains its students and 06 predicts its
models this way when `run.jobs` > 1.

Each worker is a fresh process (spawn: a fork of a kernel holding torch's thread pools is unsafe) with
`threads_each(jobs)` torch threads, however many tasks are left, so the threads a model ran on - which can change
the last bits of its bf16 sums - follow from the params and the machine only, never from what else was stale.

What a worker prints goes where its parent's output goes (a kernel's cell and the stage's log, where `tft run`
reads the progress bars), every line and bar update tagged `[worker K] `, so that two students' bars written to
one log can be told apart (run/progress.py shows each).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def threads_each(jobs: int) -> int:
    """Torch threads of each of `jobs` workers: this process's threads split evenly, at least 1."""
    import torch

    return max(1, torch.get_num_threads() // max(1, jobs))


TAG = "[worker {}] "  # before each line and bar update a worker prints (run/progress.py parses it)


class Tagged(io.TextIOBase):
    """A text stream that writes `tag` at the start of every line and after every carriage return (a
    progress bar's update) of what it is given, then passes it on to `stream`."""

    def __init__(self, stream, tag: str):
        self.stream, self.tag, self.fresh = stream, tag, True

    def write(self, s: str) -> int:
        out = []
        for part in re.split(r"([\r\n])", s):
            if part in ("\r", "\n"):
                self.fresh = True
            elif part and self.fresh:
                out.append(self.tag)
                self.fresh = False
            out.append(part)
        self.stream.write("".join(out))
        return len(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return self.stream.encoding


def _start(threads: int, parent: int, numbers) -> None:
    _end_with(parent)
    tag = TAG.format(numbers.get())
    for name in ("stdout", "stderr"):  # whole lines at a time, so two workers' lines do not mix in one log
        stream = getattr(sys, name)
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
            setattr(sys, name, Tagged(stream, tag))
    # before torch is imported by a task: OpenMP reads the variable once; torch's setting for the rest
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _end_with(parent: int) -> None:
    """End this worker when the process that started it dies (a killed kernel must not leave a student
    training on into the folder its rerun will write): Linux's PR_SET_PDEATHSIG; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def side_by_side(fn: Callable, tasks: list[tuple], jobs: int, log=print) -> Iterator[tuple[int, object]]:
    """Yield (index of the task, `fn(*task, log=...)`) for every task, each as soon as it is done.

    jobs <= 1: one after the other in this process, on its threads, told `log`. Otherwise in min(jobs, tasks)
    spawned workers with `threads_each(jobs)` threads each (`fn` and the tasks must pickle: a module-level
    function, plain data): a task's log prints to this process's output as it goes (a kernel shows a child's
    output in its cell; tft run's bar reads it in the stage's log), and a `log` other than print gets the task's
    lines when it ends. A task that raises stops the others (their workers are ended) and the error is raised
    here."""
    if jobs <= 1:
        for i, task in enumerate(tasks):
            yield i, fn(*task, log=log)
        return
    if not tasks:
        return
    before = set(multiprocessing.active_children())
    ctx, workers = multiprocessing.get_context("spawn"), min(jobs, len(tasks))
    numbers = ctx.Queue()  # each worker takes its number for its tag
    for k in range(1, workers + 1):
        numbers.put(k)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_start,
        initargs=(threads_each(jobs), os.getpid(), numbers),
    )
    ok = False
    try:
        pending = {pool.submit(_printed, fn, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                lines, result = f.result()
                for line in lines if log is not print else ():  # print: already on this output
                    log(line)
                yield pending.pop(f), result
        ok = True
    finally:
        if not ok:  # an error, or the caller stopped reading: end the workers now, not after their tasks
            for p in set(multiprocessing.active_children()) - before:
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _printed(fn: Callable, task: tuple) -> tuple[list[str], object]:
    """In a worker: `fn(*task)` with a log that prints each line and keeps it for the caller."""
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    return lines, fn(*task, log=log)
