"""Quiet progress: what a notebook's kernel prints (stderr, and stdout: the echo of its cells, run/progress.py)
goes to a log beside the executed copy."""

import subprocess
import sys

from tft_utils.run.study import kernel_log


def test_a_child_process_stderr_goes_to_the_log_not_the_terminal(tmp_path, capfd):
    log = tmp_path / "01_data.kernel.log"
    with kernel_log(log):
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.stderr.write('Kernel is running over TCP\\n'); print('train: 3/40')",
            ]
        )
    print("after", file=sys.stderr)
    print("and after")
    out, err = capfd.readouterr()
    assert "Kernel is running over TCP" not in err and "after" in err  # fd 2 restored
    assert "train: 3/40" not in out and "and after" in out  # fd 1 too
    assert "Kernel is running over TCP" in log.read_text() and "train: 3/40" in log.read_text()
