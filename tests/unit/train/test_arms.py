"""Notebook 05's students (tft_utils/train/arms.py): trained side by side (`run.jobs` 2) on the same threads
they are the same students, byte for byte, as trained in turn; their records say how many ran at once; a rerun
reuses them."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.unit.train.test_render import HAND_CONVS, TOOLS
from tft_utils.core.params import load_params
from tft_utils.core.paths import model_dir, run_paths
from tft_utils.train.arms import train_arms

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # and so 1 thread in each of 2 workers too


def _setup(root, jobs: int):
    train = {"max_steps": 3, "save_every": 100, "warmup_steps": 0, "lr": 1e-2, "lora_layers": 1}
    over = {"run": {"seeds": [0, 1], "jobs": jobs}, "train": train, "student": {"dtype": "float32"}}
    params = load_params("smoke", overrides=[over])
    paths = run_paths(root, "s1")
    paths["data"].mkdir(parents=True)
    (paths["data"] / "tools.json").write_text(json.dumps(TOOLS))
    return params, paths


def _digest(paths, arm, seed) -> str:
    return hashlib.sha256((model_dir(paths, arm, seed) / "model.safetensors").read_bytes()).hexdigest()


def test_students_trained_side_by_side_are_those_trained_in_turn(tmp_path):
    sets = {"direct": HAND_CONVS, "tft": HAND_CONVS[:2]}
    alone, paths1 = _setup(tmp_path / "one", 1)
    together, paths2 = _setup(tmp_path / "two", 2)
    lines1, lines2 = [], []
    one = train_arms(sets, paths1, alone, log=lines1.append)
    two = train_arms(sets, paths2, together, log=lines2.append)
    students = [(a, s) for a in sets for s in (0, 1)]
    assert (
        list(zip(two["arm"], two["seed"], strict=True)) == students
    )  # in arm, seed order, however they finished
    for arm, seed in students:
        assert _digest(paths1, arm, seed) == _digest(paths2, arm, seed), (arm, seed)
    assert set(one["jobs"]) == {1} and set(two["jobs"]) == {2}
    assert "4 students to train, 2 at a time on 1 thread each (run.jobs)" in lines2
    assert sum("training on" in x for x in lines1) == sum("training on" in x for x in lines2) == 4
    # the record on disk says it too, so a student reused later still counts as side by side
    assert json.loads((model_dir(paths2, "tft", 1) / "train_stats.json").read_text())["jobs"] == 2
    again: list[str] = []
    rerun = train_arms(sets, paths2, together, log=again.append)
    assert not any("training on" in x for x in again) and set(rerun["jobs"]) == {2}
