"""Conversation bootstrap, per-function scores, confusion matrix, paired comparison, agreement."""

import json

import numpy as np
import pytest

from tft_utils.stats import (
    agreement,
    bootstrap_mean,
    confusion_matrix,
    conversation_key,
    judge_metric_agreement,
    paired_comparison,
    per_function,
    summary_table,
)

RESPOND = '{"name": "respond_to_user", "parameters": {"message": "hi"}}'
FIND = '{"name": "FindRestaurants", "parameters": {"city": "A", "cuisine": "B"}}'


def row(dialogue, turn, answer, prediction, **scores):
    return {
        "dialogue_id": dialogue,
        "turn": turn,
        "question": "[]",
        "answer": answer,
        "prediction": prediction,
        **scores,
    }


def test_bootstrap_is_seeded_and_constant_values_have_a_point_interval():
    vals, groups = [1.0] * 10, list("aabbccddee")
    r = bootstrap_mean(vals, groups, 500, seed=1)
    assert (r["mean"], r["ci_low"], r["ci_high"], r["n"], r["groups"]) == (1.0, 1.0, 1.0, 10, 5)
    vals = np.random.default_rng(0).random(40)
    groups = [i // 4 for i in range(40)]
    assert bootstrap_mean(vals, groups, 300, seed=7) == bootstrap_mean(vals, groups, 300, seed=7)
    assert bootstrap_mean(vals, groups, 300, seed=7) != bootstrap_mean(vals, groups, 300, seed=8)


def test_bootstrap_resamples_conversations_not_pairs():
    # two conversations: all 0 and all 1. Resampling conversations can draw {0,0} or {1,1}, so the
    # interval spans [0, 1]; resampling 200 independent pairs would give a narrow interval near 0.5.
    vals = [0.0] * 100 + [1.0] * 100
    groups = ["a"] * 100 + ["b"] * 100
    r = bootstrap_mean(vals, groups, 2000, seed=0)
    assert r["mean"] == 0.5 and r["ci_low"] == 0.0 and r["ci_high"] == 1.0
    # replicate means weight conversations by their pairs: 1 pair of 1.0 vs 3 pairs of 0.0
    r = bootstrap_mean([1.0, 0.0, 0.0, 0.0], ["x", "y", "y", "y"], 2000, seed=0)
    assert r["mean"] == 0.25 and r["ci_high"] == 1.0 and r["ci_low"] == 0.0


def test_empty_input_gives_nan_not_a_crash():
    r = bootstrap_mean([], [], 10)
    assert r["n"] == 0 and np.isnan(r["mean"])


def test_conversation_key_falls_back_to_the_opening_message():
    q1 = json.dumps([{"role": "user", "content": "hello"}, {"role": "user", "content": "x"}])
    q2 = json.dumps([{"role": "user", "content": "hello"}])
    q3 = json.dumps([{"role": "user", "content": "other"}])
    assert (
        conversation_key({"question": q1})
        == conversation_key({"question": q2})
        != conversation_key({"question": q3})
    )
    assert conversation_key({"dialogue_id": "1_0001", "question": q1}) == "1_0001"


def test_summary_per_function_and_confusion():
    rows = [
        row("a", 1, RESPOND, RESPOND, m=1.0),
        row("a", 3, FIND, RESPOND, m=0.0),
        row("b", 1, RESPOND, "garbage", m=0.0),
        row("b", 3, FIND, FIND, m=1.0),
    ]
    t = summary_table(rows, ["m"], 100, 0)
    assert t.loc["m", "mean"] == 0.5 and t.loc["m", "groups"] == 2
    pf = per_function(rows, ["m"])
    assert pf.loc["FindRestaurants", "m"] == 0.5 and pf.loc["respond_to_user", "n"] == 2
    cm = confusion_matrix(rows)
    assert cm.loc["FindRestaurants", "respond_to_user"] == 1
    assert cm.loc["respond_to_user", "(unparseable)"] == 1
    assert cm.values.sum() == 4


def test_paired_comparison_matches_pairs_and_brackets_the_difference():
    a = [row(d, t, RESPOND, "", m=1.0) for d in "abcd" for t in (1, 3)]
    b = [row(d, t, RESPOND, "", m=0.0 if d in "ab" else 1.0) for d in "abcd" for t in (1, 3)]
    res = paired_comparison(a, b, "m", 1000, 0)
    assert res["diff"] == 0.5 and res["pairs"] == 8 and res["conversations"] == 4
    assert 0.0 <= res["ci_low"] <= 0.5 <= res["ci_high"] <= 1.0
    assert paired_comparison(a, a, "m", 100, 0)["diff"] == 0.0
    assert paired_comparison(a, a, "m", 100, 0)["p_not_better"] == 1.0
    with pytest.raises(ValueError):
        paired_comparison(a, [row("z", 1, FIND, "", m=1.0)], "m")


def test_agreement_and_kappa_pinned():
    r = agreement([True, True, False, False], [True, False, False, False])
    assert r["agreement"] == 0.75 and r["only_a_good"] == 1 and r["both_bad"] == 2
    # kappa: po = .75, pe = .5*.25 + .5*.75 = .5 -> (.75 - .5) / .5 = .5
    assert r["kappa"] == pytest.approx(0.5)
    r = agreement([True, None, False], [True, True, True])
    assert r["n"] == 2 and r["skipped"] == 1


def test_judge_metric_agreement_skips_unparseable_verdicts():
    rows = [
        {
            **row("a", 1, RESPOND, RESPOND),
            "llm_as_a_judge": 1.0,
            "judge_verdict": "good",
            "binary_tool_call": 1.0,
        },
        {
            **row("a", 3, RESPOND, RESPOND),
            "llm_as_a_judge": 1.0,
            "judge_verdict": "good",
            "binary_tool_call": 0.0,
        },
        {
            **row("b", 1, RESPOND, RESPOND),
            "llm_as_a_judge": 0.0,
            "judge_verdict": "unparseable",
            "binary_tool_call": 0.0,
        },
    ]
    t = judge_metric_agreement(rows, metrics=("binary_tool_call",))
    assert t.loc["binary_tool_call", "agreement"] == 0.5
    assert t.loc["binary_tool_call", "skipped"] == 1
