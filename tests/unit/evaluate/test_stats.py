"""Conversation bootstrap, per-function scores, confusion matrix, paired comparison, agreement, and the
two-level bootstrap over conversations and training seeds (synthetic scored rows, no model)."""

import json

import numpy as np
import pytest

from tft_utils.evaluate.stats import (
    agreement,
    bootstrap_mean,
    bootstrap_seeds,
    confusion_matrix,
    conversation_key,
    judge_metric_agreement,
    paired_comparison,
    paired_seeds,
    per_function,
    seed_matrix,
    seed_term,
    summary_table,
    t_interval,
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


def seed_runs(means_by_seed, conversations=12, turns=(1, 3, 5), seed=0, noise=0.3):
    """One run of scored rows per training seed: the same pairs, each seed's scores around its mean."""
    rng = np.random.default_rng(seed)
    runs = []
    for mu in means_by_seed:
        vals = np.clip(mu + noise * rng.standard_normal(conversations * len(turns)), 0, 1)
        pairs = [(f"c{c:02d}", t) for c in range(conversations) for t in turns]
        runs.append([row(d, t, RESPOND, "", m=float(v)) for (d, t), v in zip(pairs, vals, strict=True)])
    return runs


def test_one_seed_gives_exactly_the_conversation_bootstrap_of_today():
    # the two-level bootstrap with a single seed per arm must reproduce the old interval bit for bit
    [rows] = seed_runs([0.5], conversations=17, turns=(1, 2, 4, 7))
    rows = rows[:-3]  # unequal pair counts per conversation
    vals, groups = [r["m"] for r in rows], [conversation_key(r) for r in rows]
    for n, s in ((500, 0), (2000, 3)):
        old = bootstrap_mean(vals, groups, n, seed=s)
        new = bootstrap_seeds([rows], "m", n, seed=s)
        assert {k: new[k] for k in old} == old
        assert new["seeds"] == 1 and new["seed_sd"] is None and new["resampled"] == "test conversations"
        assert new["per_seed"] == [old["mean"]]


def test_paired_with_one_seed_each_is_exactly_the_paired_conversation_bootstrap():
    [a], [b] = seed_runs([0.6], seed=1), seed_runs([0.4], seed=2)
    b = b[2:]  # a few pairs only A scored
    res = paired_seeds([a], [b], "m", 1000, seed=5)
    diffs = [x["m"] - y["m"] for x, y in zip(a[2:], b, strict=True)]
    groups = [conversation_key(x) for x in a[2:]]
    ref = bootstrap_mean(diffs, groups, 1000, seed=5)  # how paired_comparison's interval was computed
    assert (res["diff"], res["ci_low"], res["ci_high"]) == (ref["mean"], ref["ci_low"], ref["ci_high"])
    # p_not_better as it was: the same conversation draws, share of replicates <= 0
    _, gidx = np.unique(np.asarray(groups), return_inverse=True)
    sums, counts = np.bincount(gidx, weights=diffs), np.bincount(gidx).astype(float)
    draws = np.random.default_rng(5).integers(0, len(sums), size=(1000, len(sums)))
    assert res["p_not_better"] == float((sums[draws].sum(1) / counts[draws].sum(1) <= 0).mean())
    assert (res["pairs"], res["unmatched_a"], res["unmatched_b"]) == (len(b), 2, 0)
    assert (res["seeds_a"], res["seeds_b"], res["resampled"]) == (1, 1, "test conversations")
    assert paired_comparison(a, b, "m", 1000, seed=5) == res


def test_seed_variance_widens_the_interval_only_when_seeds_differ():
    # every conversation scores the same within a seed: resampling conversations alone gives a point,
    # so all the width comes from drawing the seeds (each replicate's mean is 0, 0.5 or 1)
    zeros, ones = seed_runs([0.0], noise=0.0)[0], seed_runs([1.0], noise=0.0)[0]
    one = bootstrap_seeds([zeros], "m", 2000, seed=0)
    assert (one["ci_low"], one["ci_high"]) == (0.0, 0.0)
    two = bootstrap_seeds([zeros, ones], "m", 2000, seed=0)
    assert two["mean"] == 0.5 and two["per_seed"] == [0.0, 1.0]
    assert two["seed_sd"] == pytest.approx(np.sqrt(0.5))
    assert (two["ci_low"], two["ci_high"]) == (0.0, 1.0)
    assert two["seeds"] == 2 and two["resampled"] == "test conversations and training seeds"
    # realistic scores: two seeds far apart give a wider interval than either seed alone
    lo, hi = seed_runs([0.3, 0.7], seed=4)
    both = bootstrap_seeds([lo, hi], "m", 2000, seed=0)
    widths = [bootstrap_seeds([r], "m", 2000, seed=0) for r in (lo, hi)]
    assert both["ci_high"] - both["ci_low"] > max(w["ci_high"] - w["ci_low"] for w in widths)
    assert both["mean"] == pytest.approx(np.mean(both["per_seed"]))
    assert bootstrap_seeds([lo, hi], "m", 300, seed=1) == bootstrap_seeds([lo, hi], "m", 300, seed=1)


def test_paired_seeds_resample_each_arms_seeds_and_share_the_conversations():
    good, zeros, ones = (seed_runs([m], noise=0.0)[0] for m in (1.0, 0.0, 1.0))
    # TFT always 1; Direct one seed at 0: a certain gap
    res = paired_seeds([good, good], [zeros], "m", 2000, seed=0, name_a="TFT")
    assert (res["diff"], res["ci_low"], res["ci_high"]) == (1.0, 1.0, 1.0)
    assert res["verdict"] == "TFT ahead" and res["min_detectable_diff"] == 0.0
    # Direct's second seed scores 1 too: replicates draw {0,0}, {0,1} or {1,1} -> 1, 0.5, 0
    res = paired_seeds([good, good], [zeros, ones], "m", 2000, seed=0, name_a="TFT")
    assert res["diff"] == 0.5 and (res["ci_low"], res["ci_high"]) == (0.0, 1.0)
    assert res["verdict"] == "no difference detected"
    assert res["per_seed"] == [1.0, 0.0] and res["seeds_a"] == res["seeds_b"] == 2
    assert res["resampled"] == "test conversations and training seeds"
    # paired: two arms scoring the same varying pairs differ by exactly 0 in every replicate
    [a] = seed_runs([0.5], seed=9)
    res = paired_seeds([a, a], [a], "m", 500, seed=0)
    assert (res["ci_low"], res["ci_high"], res["p_not_better"]) == (0.0, 0.0, 1.0)


def test_seed_runs_must_score_the_same_pairs():
    a, b = seed_runs([0.5, 0.5])
    assert seed_matrix([a, b], "m")[0].shape == (2, len(a))
    with pytest.raises(ValueError, match="same pairs"):
        seed_matrix([a, b[::-1]], "m")
    with pytest.raises(ValueError, match="same pairs"):
        bootstrap_seeds([a, b[:-1]], "m", 10)


# ---------------------------------------------------------------------------------------------------
# The interval widened for few seeds (Student's t on the seeds' degrees of freedom)


def _arrays(runs):
    values, rows = seed_matrix(runs, "m")
    _, gidx = np.unique([conversation_key(r) for r in rows], return_inverse=True)
    return values, gidx, int(gidx.max()) + 1


def test_seed_term_is_the_spread_of_seed_means_less_their_test_pair_noise():
    [a] = seed_runs([0.5], seed=2)
    shifted = [{**r, "m": r["m"] + 0.2} for r in a]  # a seed better by 0.2 on every pair: no pair noise
    var, df = seed_term(*_arrays([a, shifted]))
    assert df == 1 and var == pytest.approx(np.var([0.5, 0.7], ddof=1) / 2)  # sd(means)^2 / seeds
    assert seed_term(*_arrays([a])) == (0.0, None)  # one seed: nothing measured
    # two seeds that err on different pairs but are equally good on average: their means differ by
    # test-pair noise alone, which the conversation bootstrap already counts -> (near) no seed variance
    lo, hi = seed_runs([0.5, 0.5], conversations=40, seed=7)
    noise_only, _ = seed_term(*_arrays([lo, hi]))
    means = [np.mean([r["m"] for r in x]) for x in (lo, hi)]
    assert noise_only < np.var(means, ddof=1) / 2 / 3


def test_t_interval_widens_by_students_t_on_the_seeds_df():
    assert t_interval(0.5, 0.4, 0.6, [(0.0, None), (0.0, 1)]) == (0.4, 0.6, None)  # nothing to add
    low, high, df = t_interval(0.5, 0.4, 0.6, [(0.01, 1)])
    assert df == 1 and high - 0.5 == pytest.approx(np.sqrt(0.1**2 + 12.7062**2 * 0.01), rel=1e-4)
    assert 0.5 - low == pytest.approx(high - 0.5)
    _, high3, df3 = t_interval(0.5, 0.4, 0.6, [(0.01, 2)])  # a third seed: t = 4.30
    assert df3 == 2 and high3 - 0.5 == pytest.approx(np.sqrt(0.01 + 4.3027**2 * 0.01), rel=1e-4)
    # two models, Welch-Satterthwaite: equal variances on 1 df each -> 2 df
    assert t_interval(0.0, -0.1, 0.1, [(0.01, 1), (0.01, 1)])[2] == pytest.approx(2.0)
    assert t_interval(0.5, 0.4, 0.6, [(0.01, 1)], bounds=(0.0, 1.0))[:2] == (0.0, 1.0)  # a mean's range


def test_two_seeds_that_disagree_leave_a_verdict_the_t_interval_does_not_keep():
    # TFT's two seeds score 0.8 and 0.75, Direct's 0.35 and 0.65: the bootstrap of two seeds sees three
    # mixes of Direct's and calls TFT ahead; on 1 df that spread leaves no verdict
    tft = [seed_runs([m], conversations=34, seed=s, noise=0.1)[0] for m, s in ((0.8, 1), (0.75, 2))]
    direct = [seed_runs([m], conversations=34, seed=s, noise=0.1)[0] for m, s in ((0.35, 3), (0.65, 4))]
    d = paired_seeds(tft, direct, "m", 2000, seed=0, name_a="TFT")
    assert d["verdict"] == "TFT ahead" and d["t_verdict"] == "no difference detected"
    assert (
        d["t_ci_low"] < d["ci_low"]
        and d["t_ci_high"] > d["ci_high"]
        and d["seed_df"] == pytest.approx(1, abs=0.2)
    )
    assert d["t_min_detectable_diff"] > d["min_detectable_diff"]
    # a gap far beyond the seeds' spread survives it
    direct = [seed_runs([m], conversations=34, seed=s, noise=0.1)[0] for m, s in ((0.2, 3), (0.22, 4))]
    d = paired_seeds(tft, direct, "m", 2000, seed=0, name_a="TFT")
    assert d["verdict"] == d["t_verdict"] == "TFT ahead"
    # one seed per arm: the t interval is the conversation bootstrap itself
    one = paired_seeds(tft[:1], direct[:1], "m", 2000, seed=0)
    assert (one["t_ci_low"], one["t_ci_high"], one["seed_df"]) == (one["ci_low"], one["ci_high"], None)
    arm = bootstrap_seeds(tft[:1], "m", 2000, seed=0)
    assert (arm["t_ci_low"], arm["t_ci_high"], arm["seed_df"]) == (arm["ci_low"], arm["ci_high"], None)


def test_a_score_that_is_not_a_number_is_named_not_averaged_into_no_difference():
    a, b = seed_runs([0.5, 0.5])
    b[4] = {**b[4], "m": float("nan")}
    with pytest.raises(ValueError, match=r"m is not a number in run 1, pair 4 \(dialogue c01, turn 3\)"):
        paired_seeds([a, b], [a], "m", 10)
