"""Quiet progress: what a notebook's kernel prints to stderr goes to a log beside the executed copy."""

import subprocess
import sys

from tft_utils.run.study import kernel_log


def test_a_child_process_stderr_goes_to_the_log_not_the_terminal(tmp_path, capfd):
    log = tmp_path / "01_data.kernel.log"
    with kernel_log(log):
        subprocess.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('Kernel is running over TCP\\n')"]
        )
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert "Kernel is running over TCP" not in err and "after" in err  # fd 2 restored
    assert "Kernel is running over TCP" in log.read_text()
