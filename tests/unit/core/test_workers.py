"""Work side by side in worker processes (tft_utils/core/workers.py, `run.jobs`): each task runs once, in a
fresh process on its share of this process's threads; jobs 1 runs in this process; a task that fails ends
the others and its error is raised."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from tft_utils.core.workers import side_by_side, threads_each


def whoami(x: int) -> tuple:  # a task: module level, so a spawned worker can import it
    import torch

    return os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"), 2 * x


def fail_or_wait(what: str) -> str:
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


def test_a_failing_task_ends_the_others_and_raises_its_error():
    t0 = time.time()
    with pytest.raises(ValueError, match="this task failed"):
        list(side_by_side(fail_or_wait, [("wait",), ("fail",)], 2))
    assert time.time() - t0 < 120  # not after the other task's 300 s
    assert not multiprocessing.active_children()
