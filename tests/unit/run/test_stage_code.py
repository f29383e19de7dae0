"""A notebook stage counts the package code its cells import (run.study.notebook_code): an edit of the report
reruns 07 alone, an edit of `tft run` itself (run/, plan/, the CLI) reruns no stage."""

import json
from pathlib import Path

from tft_utils.core import fresh
from tft_utils.core.params import load_params
from tft_utils.run.study import STAGES, notebook_code, stage_fingerprint


def _digests(params) -> dict:
    return {s.key: stage_fingerprint(s, params, {"SCENARIO": "s1"}, {})["digest"] for s in STAGES}


def test_an_edit_reruns_the_stages_whose_cells_import_it(monkeypatch):
    params = load_params("smoke", "s1")
    real, before = fresh.source_hash, _digests(params)
    for edited, rerun in (
        ("report/record.py", {"07"}),
        ("report/tables.py", {"06", "07"}),  # 06 writes the model cards with it
        ("run/progress.py", set()),
        ("plan/student.py", set()),
        ("cli.py", set()),
        ("train/loop.py", {"05", "06", "07"}),  # 06 and 07 import what trains (the arms, the tool base)
        ("data/sgd.py", {"01", "02", "03", "04", "05", "06", "07"}),
        ("core/provenance.py", {"01", "02", "03", "04", "05", "06", "07"}),  # each notebook records it
    ):

        def edit(p, e=edited):
            return real(p) + ("!" if Path(p).as_posix().endswith(f"tft_utils/{e}") else "")

        monkeypatch.setattr(fresh, "source_hash", edit)
        after = _digests(params)
        assert {k for k in after if after[k] != before[k]} == rerun, edited


def test_a_notebook_whose_cells_do_not_parse_counts_the_whole_package(tmp_path):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["%matplotlib inline\n", "from tft_utils.core.io import read_json"],
            }
        ]
    }
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert notebook_code(tmp_path / "x.ipynb") is None
    nb["cells"][0]["source"] = ["from tft_utils.core.io import read_json\n"]
    (tmp_path / "x.ipynb").write_text(json.dumps(nb))
    assert notebook_code(tmp_path / "x.ipynb") == ("__init__.py", "core/__init__.py", "core/io.py")
