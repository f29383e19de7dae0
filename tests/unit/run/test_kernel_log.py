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


CELL = """import subprocess, sys
print('kernel out')
print('kernel err', file=sys.stderr)
code = "import sys; print('child out'); print('child err', file=sys.stderr)"
subprocess.run([sys.executable, '-c', code])
"""


def test_a_real_kernel_writes_its_own_and_a_child_process_output_to_the_log_once(tmp_path, monkeypatch):
    """ipykernel's pipe watcher writes a child's bytes to the log and its echo wrote them again (echo_once)."""
    import nbformat
    import papermill as pm

    from tft_utils.run.progress import KERNEL_ARGS

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nbformat.write(nb, tmp_path / "in.ipynb")
    # ipykernel watches no pipe when it sees this variable (a kernel started by a test), as none does in `tft run`
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    log = tmp_path / "05_finetune.kernel.log"
    with kernel_log(log):
        pm.execute_notebook(
            str(tmp_path / "in.ipynb"),
            str(tmp_path / "out.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            extra_arguments=list(KERNEL_ARGS),
        )
    text = log.read_text()
    assert {
        w: text.count(w) for w in ("kernel out", "kernel err", "child out", "child err")
    } == dict.fromkeys(("kernel out", "kernel err", "child out", "child err"), 1), text
    shown = "".join(o.get("text", "") for o in nbformat.read(tmp_path / "out.ipynb", 4).cells[0].outputs)
    assert all(w in shown for w in ("kernel out", "kernel err", "child out", "child err")), (
        shown
    )  # the notebook too
