"""One writer per run folder (tft_utils.run.lock): a second writer refuses or waits; a dead one's lock is taken."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tft_utils.run.lock import LOCK, RunLocked, holder, run_lock


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with run_lock(tmp_path, log=lambda *_: None) as me:
        assert holder(tmp_path) == me
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()} on {socket.gethostname()} since"):
            with run_lock(tmp_path, log=lambda *_: None):
                pass
    assert not (tmp_path / LOCK).exists()  # released


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    logs = []
    with run_lock(tmp_path, log=logs.append) as me:
        assert holder(tmp_path) == me and "stale lock" in logs[0]


def test_wait_blocks_until_the_holder_ends(tmp_path):
    order = []

    def first():
        with run_lock(tmp_path, log=lambda *_: None):
            order.append("first in")
            time.sleep(0.6)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.2)
    with run_lock(tmp_path, wait=True, poll=0.05, log=lambda *_: None):
        order.append("second in")
    t.join()
    assert order == ["first in", "first out", "second in"]


@pytest.mark.slow
def test_two_tft_runs_on_one_folder_one_writes_the_other_refuses(sgd_dir, tmp_path):
    env = {**os.environ, "TFT_SGD_DIR": str(sgd_dir), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "tft_utils",
        "run",
        "--scenario",
        "s1",
        "--stages",
        "01",
        "--profile",
        "smoke",
        "--run",
        "lock",
        "-p",
        f"run.outputs={tmp_path}",
    ]
    a = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):  # until A holds the lock
        if (tmp_path / "lock" / LOCK).exists():
            break
        time.sleep(0.05)
    b = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    out_a, err_a = a.communicate(timeout=300)
    assert a.returncode == 0, err_a[-2000:]
    assert b.returncode == 2 and "tft run: error:" in b.stderr and f"pid {a.pid}" in b.stderr, b.stderr
    files = sorted(p.name for p in (tmp_path / "lock" / "data").iterdir())
    assert "test_pairs.jsonl" in files and not (tmp_path / "lock" / LOCK).exists()
    again = subprocess.run([*cmd, "--wait"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "[skip]" in again.stdout  # the folder is as one run left it
