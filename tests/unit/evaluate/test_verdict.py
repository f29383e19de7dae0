"""Seed-aware verdicts (issue 11, item 6): the verdict and detectable difference of a paired interval,
what `compare.scenario_results` records in results.json with one and with several training seeds per
arm, and the report's table and wording. Synthetic scored rows only: no model is trained or run."""

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from tft_utils.core.params import load_params, seed_of
from tft_utils.evaluate.compare import confusion_frame, scenario_results
from tft_utils.evaluate.score import SCORES, score_rows
from tft_utils.evaluate.stats import min_detectable_difference, summary_table, verdict
from tft_utils.report.tables import interval_text, study_table, write_report

PARAMS = load_params(overrides=["evaluate.bootstrap_samples=300"])
FIND = {"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Thai"}}
RESPOND = {"name": "respond_to_user", "parameters": {"message": "Which city?"}}
WRONG = json.dumps({"name": "ReserveRestaurant", "parameters": {"restaurant_name": "X"}})


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.01, 0.20, "TFT ahead"),
        (-0.20, -0.01, "TFT behind"),
        (-0.10, 0.10, "no difference detected"),
        (0.0, 0.20, "no difference detected"),  # touching 0 is not above it
        (-0.20, 0.0, "no difference detected"),
        (float("nan"), float("nan"), "no difference detected"),
    ],
)
def test_verdict_reads_the_paired_interval(low, high, expected):
    assert verdict(low, high) == expected
    assert verdict(low, high, "A") == expected.replace("TFT", "A")


def test_min_detectable_difference_is_the_80_percent_power_formula():
    z = NormalDist().inv_cdf
    assert min_detectable_difference(-0.1, 0.1) == pytest.approx(0.1 * (z(0.975) + z(0.8)) / z(0.975))
    assert min_detectable_difference(-0.1, 0.1) == pytest.approx(0.1429, abs=1e-4)  # ~1.43 x half-width
    # only the width matters, not where the interval sits; wider intervals detect less
    assert min_detectable_difference(0.3, 0.5) == pytest.approx(min_detectable_difference(-0.1, 0.1))
    assert min_detectable_difference(0, 0.4) > min_detectable_difference(0, 0.2)
    assert min_detectable_difference(0, 0.2, ci=0.9, power=0.9) == pytest.approx(
        0.1 * (z(0.95) + z(0.9)) / z(0.95)
    )


def scored_run(p_good: float, seed: int, conversations: int = 10, turns: int = 4) -> list[dict]:
    """Scored rows of one model: each pair's prediction is gold with probability p_good, else wrong."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(conversations):
        for t in range(turns):
            answer = json.dumps(FIND if t % 2 else RESPOND)
            question = json.dumps([{"role": "user", "content": f"conversation {c} turn {t}"}])
            pred = answer if rng.random() < p_good else WRONG
            rows.append(
                {"dialogue_id": f"1_{c:05d}", "turn": 2 * t + 1, "question": question, "answer": answer}
                | {"prediction": pred}
            )
    return score_rows(rows, "rubric", PARAMS)


def params_with(seeds):
    return {**PARAMS, "run": {**PARAMS["run"], "seeds": list(seeds)}}


def test_one_seed_per_arm_records_todays_intervals_and_says_test_sampling_only():
    scored = {"base": [scored_run(0.2, 0)], "direct": [scored_run(0.5, 1)], "tft": [scored_run(0.8, 2)]}
    res = scenario_results(scored, params_with([0]), "s2")
    ev = PARAMS["evaluate"]
    for arm, [rows] in scored.items():
        old = summary_table(rows, SCORES, ev["bootstrap_samples"], seed_of(PARAMS, "evaluate"), ev["ci"])
        for m in SCORES:
            rec = res.metrics[arm][m]
            assert (rec.mean, rec.ci_low, rec.ci_high) == tuple(old.loc[m, ["mean", "ci_low", "ci_high"]])
            assert rec.resampled == "test conversations" and rec.seed_sd is None
            assert rec.seeds == (None if arm == "base" else [0]) and len(rec.per_seed) == 1
    d = res.paired["llm_as_a_judge"]
    assert d.verdict in ("TFT ahead", "TFT behind", "no difference detected")
    assert d.verdict == verdict(d.ci_low, d.ci_high)
    assert d.min_detectable_diff == pytest.approx(min_detectable_difference(d.ci_low, d.ci_high))
    assert d.seeds == {"tft": [0], "direct": [0]} and d.resampled == "test conversations"
    assert res.interval.over == "test conversations"
    assert "test sampling only" in res.interval.text
    json.dumps(res.to_dict())  # results.json must serialise


def test_several_seeds_record_per_seed_means_sd_and_a_wider_interval():
    one = {"direct": [scored_run(0.5, 1)], "tft": [scored_run(0.8, 2)]}
    two = {
        "direct": [scored_run(0.5, 1), scored_run(0.2, 3)],
        "tft": [scored_run(0.8, 2), scored_run(0.8, 4)],
    }
    r1 = scenario_results(one, params_with([0]), "s2")
    r2 = scenario_results(two, params_with([0, 1]), "s2")
    m = r2.metrics["direct"]["llm_as_a_judge"]
    assert m.seeds == [0, 1] and len(m.per_seed) == 2 and m.seed_sd > 0
    assert m.mean == pytest.approx(np.mean(m.per_seed))
    assert m.resampled == "test conversations and training seeds"
    w1 = r1.metrics["direct"]["llm_as_a_judge"]
    assert m.ci_high - m.ci_low > w1.ci_high - w1.ci_low  # seed 1 scores far lower
    d1, d2 = r1.paired["llm_as_a_judge"], r2.paired["llm_as_a_judge"]
    assert d2.seeds == {"tft": [0, 1], "direct": [0, 1]} and len(d2.per_seed) == 2
    assert d2.min_detectable_diff > d1.min_detectable_diff
    assert r2.interval.over == "test conversations and training seeds"
    assert r2.interval.seeds_per_arm == {"direct": 2, "tft": 2}


def test_report_table_has_verdict_and_detectable_difference_and_says_what_intervals_cover(tmp_path):
    one = scenario_results(
        {"direct": [scored_run(0.5, 1)], "tft": [scored_run(0.9, 2)]}, params_with([0]), "s2"
    )
    two = scenario_results(
        {"direct": [scored_run(0.5, 1), scored_run(0.5, 3)], "tft": [scored_run(0.5, 2), scored_run(0.5, 4)]},
        params_with([0, 1]),
        "s3",
    )
    table = study_table({"s2": one, "s3": two})
    assert {"verdict", "min_detectable", "seeds", "ci_covers"} <= set(table.columns)
    d = one.paired["llm_as_a_judge"]
    assert table.loc["S2 Noisy Labels", "verdict"] == d.verdict
    assert table.loc["S2 Noisy Labels", "min_detectable"] == d.min_detectable_diff
    assert table.loc["S2 Noisy Labels", "ci_covers"] == "test sampling only"
    assert table.loc["S3 Schema Drift", "ci_covers"] == "test sampling + training seeds"
    assert table.loc["S3 Schema Drift", "seeds"] == "tft 2 / direct 2"
    files = write_report(tmp_path, table, {"s2": one, "s3": two})
    md = open(files["table_md"]).read()
    assert "| verdict | min. detectable Δ |" in md and f"| {d.verdict} |" in md
    assert "there they cover test sampling only" in md and "S2 Noisy Labels" in md
    csv = pd.read_csv(files["table_csv"], index_col=0)
    assert csv.loc["S2 Noisy Labels", "verdict"] == d.verdict
    # one seed everywhere: said plainly; several everywhere: the two-level bootstrap is named
    assert "cover test sampling only" in interval_text({"s2": one})
    assert "cannot tell TFT and Direct apart" in interval_text({"s2": one})
    assert "cannot tell" not in interval_text({"s3": two}) + interval_text({"s2": one, "s3": two})
    assert "two-level bootstrap" in interval_text({"s3": two})


def test_results_round_trip_through_the_schema_and_name_a_bad_field(tmp_path):
    from tft_utils.core.io import DataError, write_json
    from tft_utils.evaluate.results import SCHEMA_VERSION, ScenarioResults

    res = scenario_results(
        {"direct": [scored_run(0.5, 1)], "tft": [scored_run(0.9, 2)]}, params_with([0]), "s2"
    )
    path = res.write(tmp_path / "results.json")
    back = ScenarioResults.read(path)
    assert back == res and back.schema_version == SCHEMA_VERSION
    assert study_table({"s2": back}).equals(study_table({"s2": res}))

    bad = json.loads(path.read_text())
    bad["metrics"]["tft"]["llm_as_a_judge"]["ci_low"] = "n/a"
    write_json(tmp_path / "bad.json", bad)
    with pytest.raises(
        DataError, match=r"bad.json: metrics.tft.llm_as_a_judge.ci_low: expected a number, got 'n/a'"
    ):
        ScenarioResults.read(tmp_path / "bad.json")
    del bad["metrics"]["tft"]["llm_as_a_judge"]["ci_low"]
    write_json(tmp_path / "bad.json", bad)
    with pytest.raises(DataError, match=r"metrics.tft.llm_as_a_judge.ci_low: missing"):
        ScenarioResults.read(tmp_path / "bad.json")
    older = json.loads(path.read_text())
    older.pop("schema_version")  # written before the schema: refused with what to do
    write_json(tmp_path / "old.json", older)
    with pytest.raises(DataError, match=r"old.json: no schema_version .*rerun stage 06"):
        ScenarioResults.read(tmp_path / "old.json")


def test_the_confusion_matrix_and_failure_kinds_count_every_seeds_predictions():
    # the per-pair seed means keep the first seed's prediction: counting them showed seed 0's calls only
    seeds = [scored_run(0.9, 0), scored_run(0.2, 1)]
    res = scenario_results({"direct": seeds, "tft": seeds}, params_with([0, 1]), "s2")
    table = confusion_frame(res).loc["direct"]
    assert table.to_numpy().sum() == 80  # 40 pairs x 2 seeds
    wrong = sum(json.loads(r["prediction"])["name"] == "ReserveRestaurant" for rows in seeds for r in rows)
    assert table["ReserveRestaurant"].sum() == wrong and sum(res.error_types["direct"].values()) == 80
    assert list(table.columns[:2]) == ["FindRestaurants", "ReserveRestaurant"]
