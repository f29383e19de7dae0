"""Notebook 05 in a real kernel: a loss curve saved while training (the tool base's, or a student's trained in the
kernel) must not leave the notebook's later figures undrawn (it switched matplotlib to Agg: S1's training curves
were missing from the executed copy)."""

import nbformat
import papermill as pm

CELLS = [
    "import matplotlib.pyplot as plt\nfrom tft_utils.train.arms import _backend_kept\nfrom tft_utils.train.loop import _plot",
    "with _backend_kept():\n    _plot([{'step': 1, 'loss': 1.0}, {'step': 2, 'loss': 0.5}], __import__('pathlib').Path('loss.png'))",
    "fig, ax = plt.subplots()\nax.plot([1, 2], [2, 1])",
]


def test_a_figure_after_a_saved_loss_curve_is_still_drawn(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, tmp_path / "in.ipynb")
    pm.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        log_output=False,
    )
    out = nbformat.read(tmp_path / "out.ipynb", 4).cells[2].outputs
    assert any("image/png" in o.get("data", {}) for o in out), out
    assert (tmp_path / "loss.png").exists()
