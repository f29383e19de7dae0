"""The report (07) sets an endpoint teacher's score beside the students' (issue 14, item 7)."""

import pandas as pd

from tests.unit.evaluate.test_verdict import params_with, scored_run
from tft_utils.evaluate.compare import scenario_results
from tft_utils.report.tables import published_teacher_score, study_table, teacher_text, write_report


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
    assert "| teacher | teacher_ci |" in md and "`glm-5` (roles.teacher)" in md and "GLM-5 0.835" in md
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
