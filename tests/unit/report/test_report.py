"""The report (07) sets an endpoint teacher's score beside the students' (issue 14, item 7)."""

import pandas as pd
import pytest

from tests.unit.evaluate.test_verdict import params_with, scored_run
from tft_utils.evaluate.compare import scenario_results
from tft_utils.report.tables import (
    plot_deltas,
    plot_stage_effects,
    published_teacher_score,
    service_calls_text,
    study_table,
    table_display,
    teacher_text,
    write_report,
)


def with_teacher(teacher: str | None):
    scored = {"base": [scored_run(0.2, 0)], "direct": [scored_run(0.5, 1)], "tft": [scored_run(0.7, 2)]}
    params = params_with([0])
    if teacher:
        scored["teacher"] = [scored_run(0.9, 3)]
        params = {**params, "roles": {**params["roles"], "teacher": teacher}}
    return scenario_results(scored, params, "s2")


def test_the_teacher_arm_sits_beside_the_students_with_the_published_score_of_that_model(tmp_path):
    res = with_teacher("glm-5")
    table = study_table({"s2": res})
    row = table.loc["S2 Noisy Labels"]
    m = res.metrics["teacher"]["llm_as_a_judge"]
    assert row["teacher"] == m.mean and row["teacher_ci"] == f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
    assert row["teacher_model"] == "glm-5" and row["published_teacher"] == 0.835  # the publishers' GLM-5
    assert row["teacher"] > row["tft"] > row["direct"]
    md = open(write_report(tmp_path, table, {"s2": res})["table_md"]).read()
    assert (
        f"| {m.mean:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}] |" in md
        and "| teacher |" in md
        and "`glm-5` (roles.teacher)" in md
        and "GLM-5 0.835" in md
    )
    assert pd.read_csv(tmp_path / "table.csv", index_col=0).loc["S2 Noisy Labels", "teacher_model"] == "glm-5"


def test_no_teacher_column_without_an_endpoint_teacher_and_no_made_up_published_score():
    table = study_table({"s2": with_teacher(None)})
    assert not {"teacher", "teacher_model", "published_teacher"} & set(table.columns)
    assert teacher_text({"s2": with_teacher(None)}) == ""
    assert published_teacher_score("my-local-model") is None
    assert published_teacher_score("gateway/Qwen3-235B-A22B") == 0.768
    table = study_table({"s2": with_teacher("loop-teacher")})
    assert table.loc["S2 Noisy Labels", "teacher_model"] == "loop-teacher"
    assert "published_teacher" not in table.columns


def two_seed_run():
    """One scenario, two training seeds per arm: the table has a seed spread to draw."""
    scored = {
        "base": [scored_run(0.2, 0)],
        "direct": [scored_run(0.4, 1), scored_run(0.5, 2)],
        "tft": [scored_run(0.6, 3), scored_run(0.8, 4)],
    }
    return {"s4": scenario_results(scored, params_with([0, 1]), "s4")}


def test_the_table_for_reading_fits_a_page_and_keeps_every_figure():
    results = two_seed_run()
    table = study_table(results)
    shown = table_display(table)
    assert len(shown.columns) <= 9  # 18 raw columns were cut off by a browser at 1200 px
    row, raw = shown.loc["S4 Low Data"], table.loc["S4 Low Data"]
    assert row["TFT"] == f"{raw['tft']:.3f} {raw['tft_ci']}"
    assert row["Δ = TFT − Direct [95% CI]"] == f"{raw['delta']:+.3f} {raw['delta_ci']}"
    seeds = f"tft 2 (sd {raw['tft_seed_sd']:.3f}) / direct 2 (sd {raw['direct_seed_sd']:.3f})"
    assert row["seeds per arm (sd of seed means)"] == seeds  # each arm's own spread, named
    assert row["Δ's CI with few seeds (t): verdict"] == f"{raw['t_delta_ci']}: {raw['t_verdict']}"
    assert row["published TFT / Direct / Δ"] == "0.852 / 0.649 / +0.203"
    assert set(table.columns) > {"tft_ci", "p_not_better", "ci_covers"}  # the csv keeps them apart


def test_one_scenario_still_draws_its_noise_floor_and_its_stage_effects():
    import matplotlib

    matplotlib.use("Agg")
    results = two_seed_run()
    table = study_table(results)
    fig = plot_deltas(table)
    (band,) = fig.axes[0].patches  # the errorbars and the published marker draw no patches
    sd = table.loc["S4 Low Data", "delta_seed_sd"]  # the spread of Δ itself, not of one arm
    assert sd > 0 and band.get_width() == 0.5 and band.get_height() == pytest.approx(4 * sd)
    effects = pd.DataFrame([{"scenario": "s4", "kind": "clean", "dropped_share": 0.0, "restored_share": 0.9}])
    ax = plot_stage_effects(effects).axes[0]
    assert ax.get_position().height * ax.figure.get_figheight() > 0.3  # inches of plot, not a sliver
    assert sum(p.get_width() for p in ax.patches) == pytest.approx(0.9)


def test_service_calls_are_recorded_per_seed_survive_results_json_and_reach_the_report(tmp_path):
    from tft_utils.evaluate.compare import service_calls_frame
    from tft_utils.evaluate.results import ScenarioResults
    from tft_utils.evaluate.score import service_calls

    r = two_seed_run()["s4"]
    direct = [service_calls(rows) for rows in (scored_run(0.4, 1), scored_run(0.5, 2))]
    assert r.service_calls["direct"] == direct and len(r.service_calls["tft"]) == 2
    assert direct[0]["calls"] == 20 and direct[0]["judged_good"] != direct[1]["judged_good"]  # FIND turns
    back = ScenarioResults.read(r.write(tmp_path / "results.json"))
    assert back.service_calls == r.service_calls
    frame = service_calls_frame(back)
    assert frame.loc[("direct", 1), "judged_good"] == direct[1]["judged_good"]
    assert frame.loc[("base", "-"), "calls"] == 20
    text = service_calls_text({"s4": back})
    good = " / ".join(str(c["judged_good"]) for c in direct)
    assert f"| S4 Low Data | direct | 20 | {good} |" in text
    old = back.to_dict()
    del old["service_calls"]  # a results.json written before 06 recorded them still reads
    assert service_calls_text({"s4": ScenarioResults.from_dict(old)}) == ""
