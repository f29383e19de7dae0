"""`tft plan --measure` (tft_utils/plan/throughput.py): the smoke student really trained and predicting on
this machine, its rates kept in the model cache and used by later plans of the same machine and recipe,
and not by plans of another recipe."""

from __future__ import annotations

import json
import math

import pytest

from tft_utils import cli
from tft_utils.core.params import load_params
from tft_utils.plan import throughput
from tft_utils.plan.estimate import make_plan


@pytest.fixture
def sgd(sgd_dir, monkeypatch):
    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))
    return sgd_dir


def test_measured_rates_are_kept_and_used_for_the_same_recipe_only(sgd, model_cache, tmp_path, monkeypatch):
    # the tool base on: its recipe is timed too, and (not built) the untuned base predicts
    ovs = [f"run.outputs={tmp_path}", f"student.cache_dir={model_cache}", "student.tool_base=sgd"]
    assumed = load_params("smoke", None, ovs)["plan"]
    plan = make_plan("smoke", ["s1"], ovs, pipelines=["direct"], run="p", measure=True)
    kept = list((model_cache / "throughput").glob("*.json"))
    assert len(kept) == 1
    found = json.loads(kept[0].read_text())
    for part in ("train", "tool_base"):
        assert found[part]["steps"] == throughput.TIMED and found[part]["seconds"] > 0
        assert found[part]["tokens_per_s"] > 0 and found[part]["plan_tokens_per_token"] > 0
        assert math.isclose(
            found[part]["plan_tokens_per_s"],
            found[part]["tokens_per_s"] * found[part]["plan_tokens_per_token"],
            rel_tol=0.01,
        )
    assert (
        found["predict"]["conversations"] == throughput.PREDICT_CONVERSATIONS
        and found["predict"]["pairs"] > 0
    )
    assert found["predict"]["model"].startswith("base model (the tool base is not built yet")
    assert found["fingerprint"]["params"]["machine"]["torch_threads"] >= 1
    # the plan's hours are its tokens at the measured rates, and it says where they came from
    a = plan.assumptions
    assert a["throughput"].startswith("measured on this machine") and found["measured"] in a["throughput"]
    assert [a[k] for k in throughput.FIGURES] == [found[k] for k in throughput.FIGURES]
    assert [a[k] for k in throughput.FIGURES] != [assumed[k] for k in throughput.FIGURES]
    direct = next(s for s in plan.students if s.arm == "direct")
    assert direct.train_tokens > 0 and math.isclose(
        direct.train_hours, direct.train_tokens / found["train_tokens_per_s"] / 3600, abs_tol=1e-4
    )
    assert math.isclose(
        direct.predict_hours, direct.predict_tokens / found["predict_tokens_per_s"] / 3600, abs_tol=1e-4
    )

    # a later plan with the same machine and speed knobs reuses them, whatever its budget or learning rate
    def no_measuring(*_a, **_k):
        raise AssertionError("measured again")

    monkeypatch.setattr(throughput, "measure_rates", no_measuring)
    later = make_plan(
        "smoke", ["s1"], [*ovs, "train.max_steps=7", "train.lr=0.01"], pipelines=["direct"], run="p"
    )
    assert later.assumptions["throughput"] == a["throughput"]
    assert later.assumptions["train_tokens_per_s"] == found["train_tokens_per_s"]
    # another speed knob (adapters on one layer): not measured for it, so params.plan's figures again
    other = make_plan("smoke", ["s1"], [*ovs, "train.lora_layers=1"], pipelines=["direct"], run="p")
    assert other.assumptions["throughput"].startswith("as stated in params.plan")
    assert [other.assumptions[k] for k in throughput.FIGURES] == [assumed[k] for k in throughput.FIGURES]


def test_two_at_a_time_the_machines_factor_is_measured_and_gives_its_hours(sgd, model_cache, tmp_path):
    from tft_utils.core.workers import threads_each
    from tft_utils.plan.show import render

    ovs = [f"run.outputs={tmp_path}", f"student.cache_dir={model_cache}", "run.jobs=2"]
    plan = make_plan("smoke", ["s1"], ovs, pipelines=["direct"], run="p", measure=True)
    (kept,) = [
        json.loads(f.read_text())
        for f in (model_cache / "throughput").glob("*.json")
        if json.loads(f.read_text())["fingerprint"]["params"]["jobs"] == 2
    ]
    sb = kept["side_by_side"]
    assert sb["jobs"] == 2 and sb["threads_each"] == threads_each(2)
    assert len(sb["train_tokens_per_s_each"]) == 2 and min(sb["train_tokens_per_s_each"]) > 0
    assert len(sb["predict_seconds_each"]) == 2 and min(sb["predict_seconds_each"]) > 0
    assert sb["train_factor"] == round(sum(sb["train_tokens_per_s_each"]) / kept["train"]["tokens_per_s"], 3)
    assert sb["predict_factor"] == round(2 * kept["predict"]["seconds"] / max(sb["predict_seconds_each"]), 3)
    assert "conversation" not in kept["train"] and "chosen" not in kept["predict"]  # timed, not kept
    # the plan: each model's hours as before, the machine's over the factors
    a, t = plan.assumptions, plan.totals()
    assert a["side_by_side"] == {"train_factor": sb["train_factor"], "predict_factor": sb["predict_factor"]}
    expect = sum(
        s.train_hours / sb["train_factor"] + s.predict_hours / sb["predict_factor"] for s in plan.students
    )
    assert t["machine_hours"] == round(expect, 3) and t["student_hours"] > 0
    assert (
        f"measured here {sb['train_factor']:.2f}x the training and {sb['predict_factor']:.2f}x the predicting "
        f"an hour: the machine's {t['machine_hours']:.2f} h"
    ) in render(plan)
    # one at a time: not this measurement (run.jobs is in its key), so no factor and no machine hours
    alone = make_plan("smoke", ["s1"], ovs[:2], pipelines=["direct"], run="p")
    assert alone.assumptions["side_by_side"] is None and alone.totals()["machine_hours"] is None


def test_the_timed_conversation_is_one_sequence_as_long_as_the_mean():
    # mean sequence (100 + 270 + 290 + 200 + 500) / 5 = 272: the split conversation (mean 280) is nearer,
    # but only one trained as a single sequence is timed (one width): 200
    assert throughput.typical([[100], [270, 290], [200], [500]]) == 2
    assert throughput.typical([[200], [400]]) == 0  # a tie: the first
    # every conversation split: the one whose sequences' mean is nearest (376.7: 400)
    assert throughput.typical([[500, 500], [200, 260], [100, 700]]) == 2


def test_tft_plan_measure_prints_the_measured_rates(sgd, model_cache, tmp_path, capsys):
    argv = ["plan", "--scenario", "s1", "--profile", "smoke", "--pipelines", "direct", "--measure"]
    argv += ["--out", str(tmp_path / "plan.json"), "-p", f"run.outputs={tmp_path}"]
    argv += ["-p", f"student.cache_dir={model_cache}"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "tokens/s predicting, measured on this machine (" in out
    assert json.loads((tmp_path / "plan.json").read_text())["assumptions"]["throughput"].startswith(
        "measured"
    )
