"""The frozen bottom shared by the students of one process (tft_utils/train/bottom.py): a student trained
from kept bottom outputs has the same weights, byte for byte, as one trained without them; what is kept
follows the base and the numbers, within its budget; the share changes no fingerprint."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.train.test_render import HAND_CONVS, TOOLS
from tft_utils.train.bottom import SharedBottom
from tft_utils.train.loop import has_cxx, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _params(**train_cfg):
    from tft_utils.core.params import load_params

    cfg = {"max_steps": 4, "save_every": 100, "warmup_steps": 0, "max_tokens": 512, "lr": 1e-2, **train_cfg}
    return load_params("smoke", overrides=[{"train": cfg, "student": {"dtype": "float32"}}])


def _digest(folder) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize("compile_mode", ["none", "inductor"])
def test_a_later_seed_from_kept_outputs_has_the_same_bytes(tmp_path, compile_mode):
    """Seed 0 then seed 1 sharing the bottom (top 1 of the smoke student's 2 layers): seed 1 reuses
    a kept output at every step (HAND's 3 sequences, 4 steps: seed 0 saw them all) and its merged
    model is byte-identical to seed 1 trained alone; seed 0 met one sequence twice itself."""
    if compile_mode == "inductor" and not has_cxx():
        pytest.skip("inductor needs a C++ compiler")
    shared = SharedBottom(64)
    cfg = {"lora_layers": 1, "compile": compile_mode}
    first = train(HAND_CONVS, tmp_path / "s0", _params(seed=0, **cfg), TOOLS, progress=False, shared=shared)
    later = train(HAND_CONVS, tmp_path / "s1", _params(seed=1, **cfg), TOOLS, progress=False, shared=shared)
    alone = train(HAND_CONVS, tmp_path / "alone", _params(seed=1, **cfg), TOOLS, progress=False)
    assert (first["bottom_reused"], later["bottom_reused"], alone["bottom_reused"]) == (1, 4, 0)
    assert len(shared.held) == 3 and shared.bytes > 0
    assert _digest(tmp_path / "s1") == _digest(tmp_path / "alone")


def test_padded_micro_batches_from_kept_outputs_have_the_same_bytes(tmp_path):
    """Two sequences a forward pass (padded, with an attention mask, which is part of what is kept by):
    seed 1 after seed 0 reuses whole passes and trains the same weights as seed 1 alone."""
    shared = SharedBottom(64)
    cfg = {"lora_layers": 1, "conversations_per_step": 2, "micro_batch": 2}
    train(HAND_CONVS, tmp_path / "s0", _params(seed=0, **cfg), TOOLS, progress=False, shared=shared)
    later = train(HAND_CONVS, tmp_path / "s1", _params(seed=1, **cfg), TOOLS, progress=False, shared=shared)
    train(HAND_CONVS, tmp_path / "alone", _params(seed=1, **cfg), TOOLS, progress=False)
    assert later["bottom_reused"] > 0 and all(k[1] is False for k in shared.held)  # masked passes
    assert _digest(tmp_path / "s1") == _digest(tmp_path / "alone")


def test_nothing_is_kept_without_a_frozen_bottom_or_a_budget(tmp_path):
    """Adapters on every layer (lora_layers 0), full fine-tuning, or a budget of 0: no runner, nothing
    kept; a budget too small for one sequence runs every bottom and keeps none."""
    for name, cfg, budget in [
        ("every", {"lora_layers": 0}, 64),
        ("full", {"lora_layers": 1, "method": "full"}, 64),
        ("off", {"lora_layers": 1}, 0),
        ("tiny", {"lora_layers": 1}, 0.001),
    ]:
        shared = SharedBottom(budget)
        for seed in (0, 1):
            stats = train(
                HAND_CONVS,
                tmp_path / f"{name}{seed}",
                _params(seed=seed, **cfg),
                TOOLS,
                progress=False,
                shared=shared,
            )
            assert stats["bottom_reused"] == 0, name
        assert shared.held == {} and shared.bytes == 0, name


def test_another_base_or_dtype_starts_afresh(tmp_path):
    """What is kept belongs to one base and one set of numbers: a runner for another context drops it."""
    from tft_utils.train.loop import _core
    from tft_utils.train.student import base_model_dir, load_student

    model, _ = load_student(base_model_dir("smoke"), "cpu", "float32")
    shared = SharedBottom(64)
    shared.runner(_core(model), 1, ("base-a", "float32"))
    shared.keep(("k",), __import__("torch").zeros(4))
    assert shared.runner(_core(model), 1, ("base-a", "float32")) is not None and len(shared.held) == 1
    shared.runner(_core(model), 1, ("base-b", "float32"))
    assert shared.held == {} and shared.bytes == 0


def test_the_budget_and_the_checkpoints_change_no_fingerprint(tmp_path):
    """train.shared_bottom_mb (how fast) and train.save_every (how often a checkpoint is written) never
    change the weights: a student's and the tool base's fingerprints ignore them (changing them retrains
    nothing; a benchmark that checkpoints less no longer rebuilds the base); the LoRA rank changes both."""
    from tft_utils.core.params import load_params
    from tft_utils.train.arms import student_fingerprint
    from tft_utils.train.student import base_model_dir
    from tft_utils.train.tool_base import tool_base_fingerprint

    (tmp_path / "tools.json").write_text("[]")
    base = base_model_dir("smoke")

    def prints(**train_cfg):
        p = load_params("smoke", overrides=[{"train": train_cfg}])
        student = student_fingerprint([], {"data": tmp_path}, p, 0, base)["digest"]
        return student, tool_base_fingerprint(p, base, [])["digest"]

    default = prints()
    assert prints(shared_bottom_mb=0) == default and prints(save_every=10**6) == default
    rank = prints(lora_r=8)
    assert rank[0] != default[0] and rank[1] != default[1]
