"""Work side by side in worker processes (tft_utils/core/workers.py, `run.jobs`): each task runs once, in a
fresh process on its share of this process's threads; jobs 1 runs in this process; a task that fails ends
the others and its error is raised."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tft_utils.core.paths import REPO
from tft_utils.core.workers import side_by_side, threads_each


def whoami(x: int, log=print) -> tuple:  # a task: module level, so a spawned worker can import it
    import torch

    return os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"), 2 * x


def fail_or_wait(what: str, log=print) -> str:
    if what == "fail":
        raise ValueError("this task failed")
    time.sleep(300)
    return what


@pytest.fixture
def two_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_job_runs_the_tasks_here_in_order():
    import torch

    got = list(side_by_side(whoami, [(1,), (2,)], 1))
    assert [i for i, _ in got] == [0, 1] and [r[3] for _, r in got] == [2, 4]
    assert {r[0] for _, r in got} == {os.getpid()} and {r[1] for _, r in got} == {torch.get_num_threads()}


def test_workers_run_each_task_once_on_their_share_of_the_threads(two_threads):
    assert threads_each(2) == 1 and threads_each(1) == 2 and threads_each(4) == 1
    got = dict(side_by_side(whoami, [(k,) for k in range(3)], 2))
    assert sorted(got) == [0, 1, 2] and [got[k][3] for k in range(3)] == [0, 2, 4]
    pids = {r[0] for r in got.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # two workers, three tasks
    assert {(r[1], r[2]) for r in got.values()} == {(1, "1")}  # 2 threads // 2 jobs, OpenMP told too
    assert not multiprocessing.active_children()


def tell(x: int, log=print) -> int:
    log(f"task {x} says hello")
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_tasks_log_lines_reach_the_callers_log(jobs):
    """In this process a task is told the caller's log; in a worker its lines come back when it ends."""
    said: list[str] = []
    got = dict(side_by_side(tell, [(0,), (1,)], jobs, said.append))
    assert got == {0: 0, 1: 1} and sorted(said) == ["task 0 says hello", "task 1 says hello"]


def test_a_failing_task_ends_the_others_and_raises_its_error():
    t0 = time.time()
    with pytest.raises(ValueError, match="this task failed"):
        list(side_by_side(fail_or_wait, [("wait",), ("fail",)], 2))
    assert time.time() - t0 < 120  # not after the other task's 300 s
    assert not multiprocessing.active_children()


def sleep_and_tell(path: str, log=print) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(300)


PARENT = """
import sys
from tft_utils.core.workers import side_by_side
from tests.unit.core.test_workers import sleep_and_tell
list(side_by_side(sleep_and_tell, [(sys.argv[1],)], 2))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_ends_when_the_process_that_started_it_is_killed(tmp_path):
    """A killed kernel (tft run interrupted) must not leave a student training on into the folder the
    rerun writes: its workers end with it."""
    told = tmp_path / "worker.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(told)], cwd=REPO)
    try:
        deadline = time.time() + 120
        while not told.exists() or not told.read_text():
            assert parent.poll() is None and time.time() < deadline, "the worker never started"
            time.sleep(0.2)
        worker = int(told.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 30
        while Path(f"/proc/{worker}").exists() and "Z" not in _state(worker):
            assert time.time() < deadline, "the worker outlived its parent"
            time.sleep(0.2)
    finally:
        parent.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def train_and_stop(seed: int, log=print) -> int:
    """A task that names its model and leaves its progress bar at 2 of 3, as a student still training."""
    from tqdm.std import tqdm

    log(f"direct seed {seed}: training on 3 conversations -> /x/direct-seed{seed}")
    bar = tqdm(total=3, desc="train", mininterval=0)
    bar.update(2)
    time.sleep(0.5)
    return seed


TWO_INTO_ONE_LOG = """
import sys
from tft_utils.core.workers import side_by_side
from tests.unit.core.test_workers import train_and_stop
print("the kernel's own line", flush=True)
list(side_by_side(train_and_stop, [(0,), (1,)], 2))
"""


def test_two_workers_writing_one_log_tag_their_lines_so_each_bar_is_read_apart(tmp_path):
    """As in a stage's kernel log (tft run points the kernel's stdout and stderr, which its workers inherit,
    at one file): every line and bar update of a worker starts with its tag, and tft run's reader shows
    both students' bars, each with its own model."""
    from tft_utils.run.progress import Reader

    log = tmp_path / "05_finetune.kernel.log"
    with open(log, "ab") as f:
        subprocess.run([sys.executable, "-c", TWO_INTO_ONE_LOG], cwd=REPO, stdout=f, stderr=f, check=True)
    text = log.read_text()
    # a bar update ends where the next write begins, maybe the other worker's: split there too
    pieces = [p for p in re.split(r"[\r\n]|(?=\[worker \d\] )", text) if p.strip()]
    assert pieces[0] == "the kernel's own line"  # the parent's output is not tagged
    tagged = {k: [p for p in pieces if p.startswith(f"[worker {k}] ")] for k in (1, 2)}
    assert len(tagged[1]) + len(tagged[2]) == len(pieces) - 1  # everything else is a worker's, tagged
    for k in (1, 2):  # each worker trained one of the two models and drew its bar
        assert sum("training on 3 conversations" in p for p in tagged[k]) == 1
        assert any("train:  67%" in p and "2/3" in p for p in tagged[k])
    status = Reader(log).status()
    parts = sorted(status.split(" | "))
    assert [p.split(" [")[0] for p in parts] == ["direct seed 0: train 2/3", "direct seed 1: train 2/3"]
