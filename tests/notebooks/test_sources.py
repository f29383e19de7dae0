"""The notebooks' sources: each notebooks/NN_name.ipynb is paired with a jupytext percent-format
notebooks/NN_name.py (the file that is reviewed and linted); the pair must hold the same cells, the
.ipynb no outputs, and every notebook the same defaults so that 01..07 run by hand in order.
Fast: reads files only, starts no kernel. `make sync` brings a pair back in step."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jupytext
import pytest

from tft_utils.core.params import load_params
from tft_utils.run.study import NOTEBOOKS, STAGES

NAMES = [s.notebook for s in STAGES]
SYNC = "run `make sync` (jupytext --sync notebooks/*.ipynb)"


def cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip("\n"), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def pair_differences(ipynb: Path, py: Path) -> list[str]:
    """What differs between a notebook and its percent-format source, cell by cell (empty: in sync)."""
    a, b = cells(jupytext.read(ipynb)), cells(jupytext.read(py))
    out = [f"{ipynb.name} has {len(a)} cells, {py.name} {len(b)}"] if len(a) != len(b) else []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        for what, u, v in zip(("type", "source", "tags"), x, y, strict=True):
            if u != v:
                out.append(f"cell {i} {what}: {u!r} in {ipynb.name} vs {v!r} in {py.name}")
    return out


def parameters(name: str) -> dict:
    """The defaults of a notebook's `parameters` cell, by name."""
    [cell] = [
        c for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells if "parameters" in c.metadata.get("tags", [])
    ]
    tree = ast.parse(cell.source)
    return {t.id: ast.literal_eval(s.value) for s in tree.body for t in s.targets}


def test_every_stage_has_a_notebook_and_its_source_and_nothing_else():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_and_source_are_in_sync(name):
    diffs = pair_differences(NOTEBOOKS / f"{name}.ipynb", NOTEBOOKS / f"{name}.py")
    assert not diffs, f"{name}: .ipynb and .py differ; {SYNC}\n" + "\n".join(diffs[:5])


def test_an_edit_to_one_side_is_caught(tmp_path):
    name = "07_report"
    (tmp_path / f"{name}.ipynb").write_text((NOTEBOOKS / f"{name}.ipynb").read_text())
    src = (NOTEBOOKS / f"{name}.py").read_text()
    assert pair_differences(tmp_path / f"{name}.ipynb", NOTEBOOKS / f"{name}.py") == []
    edits = {
        "source": src.replace('METRIC = "llm_as_a_judge"', 'METRIC = "rouge_l"'),
        "tags": src.replace('# %% tags=["parameters"]', "# %%"),
        "type": src.replace("# %% [markdown]\n# ## 1.", "# %%\n# ## 1."),
        "cells": src + '\n# %%\nprint("one more")\n',
    }
    for what, edited in edits.items():
        assert edited != src, what
        (tmp_path / f"{name}.py").write_text(edited)
        diffs = pair_differences(tmp_path / f"{name}.ipynb", tmp_path / f"{name}.py")
        assert diffs, what
        assert what in diffs[0], (what, diffs)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None, f"{name} cell {i}; {SYNC}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_shape(name):
    """One `parameters` cell, first code cell, of UPPER_CASE literals each with a comment (its allowed
    values); no function or class defined in a notebook (logic lives in tft_utils)."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {name[:2]} · ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], f"{name}: the parameters cell must be the first code cell, and the only one"
    for stmt in ast.parse(code[0].source).body:
        assert isinstance(stmt, ast.Assign), ast.unparse(stmt)
        for target in stmt.targets:
            assert isinstance(target, ast.Name) and target.id.isupper(), ast.unparse(stmt)
        ast.literal_eval(stmt.value)
    for line in code[0].source.splitlines():
        assert "#" in line, f"{name}: parameter without a comment: {line}"
    for c in code:
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda), (
                f"{name}: define functions in tft_utils, not in a notebook: {c.source[:80]}"
            )


WRITERS = {"write_json", "write_jsonl", "write_text", "save_figure", "record", "write_report", "export_html"}


@pytest.mark.parametrize("name", NAMES)
def test_no_cell_shows_the_path_a_writer_returns(name):
    """A cell ending in `save_figure(...)` shows `Out: PosixPath('/tmp/.../scores.png')` in the report."""
    for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells:
        if c.cell_type != "code" or not c.source.strip():
            continue
        last = ast.parse(c.source).body[-1]
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            f = last.value.func
            called = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            assert called not in WRITERS, f"{name}: assign the result of {ast.unparse(last)[:60]}"


def test_every_notebook_defaults_to_one_scenario_and_one_run_folder():
    """Run by hand in order with their defaults, 01..07 read what the earlier ones wrote: the same
    profile, scenario and run folder everywhere, and those of `tft run` (outputs/<run.name>)."""
    defaults = {name: parameters(name) for name in NAMES}
    run = load_params(None, None, [])["run"]
    for name, p in defaults.items():
        assert p["PROFILE"] == run["profile"], name
        assert p["RUN_DIR"] == f"{run['outputs']}/{run['name']}", name
        assert p["SCENARIOS"] == defaults[NAMES[0]]["SCENARIOS"], name
        assert p["PIPELINES"] == ["direct", "tft"], name
    scenarios = {name: p["SCENARIO"] for name, p in defaults.items() if "SCENARIO" in p}
    stages = {s.notebook for s in STAGES if s.scope == "scenario"}
    assert set(scenarios) == stages
    assert set(scenarios.values()) == {load_params(None, None, [])["scenario"]["id"]}, scenarios
