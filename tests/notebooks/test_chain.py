"""The whole chain (notebooks 01 -> 07) for one scenario on the `smoke` profile, through `tft run`."""

import json

import pytest

from tft_utils.run import run_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(sgd_dir, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("TFT_SGD_DIR", str(sgd_dir))
    out = tmp_path_factory.mktemp("outputs")
    run_dir = run_study(
        ["s2"], profile="smoke", run="chain", overrides=[f"run.outputs={out}"], log=lambda *a: None
    )
    return run_dir


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_stage_left_its_executed_notebook(smoke_run):
    names = sorted(p.name for p in smoke_run.rglob("notebooks/*.ipynb"))
    assert names == [
        "01_data.ipynb",
        "02_scenarios.ipynb",
        "03_filter_relabel.ipynb",
        "04_synthesize.ipynb",
        "05_finetune.ipynb",
        "06_evaluate.ipynb",
        "07_report.ipynb",
    ]
    assert not list(smoke_run.rglob("*.FAILED.ipynb"))


def test_results_are_recorded_and_well_formed(smoke_run):
    res = json.loads((smoke_run / "s2" / "results.json").read_text())
    assert res["scenario"] == "s2" and res["profile"] == "smoke"
    for arm in ("base", "direct", "tft"):
        m = res["metrics"][arm]["llm_as_a_judge"]
        assert 0.0 <= m["ci_low"] <= m["mean"] <= m["ci_high"] <= 1.0
    assert set(res["paired"]["llm_as_a_judge"]) >= {"diff", "ci_low", "ci_high", "pairs"}
    assert res["paired"]["llm_as_a_judge"]["pairs"] == 360
    assert res["provenance"]["git_commit"] and res["provenance"]["params"]["run"]["profile"] == "smoke"


def test_report_has_table_figures_and_html(smoke_run):
    report = smoke_run / "report"
    for name in ("table.md", "table.csv", "scores.png", "delta.png", "report.html", "report.json"):
        assert (report / name).stat().st_size > 0, name
    assert "S2 Noisy Labels" in (report / "table.md").read_text()


def test_a_rerun_skips_every_finished_stage(smoke_run):
    logs = []
    run_study(
        ["s2"], profile="smoke", run="chain", overrides=[f"run.outputs={smoke_run.parent}"], log=logs.append
    )
    assert sum(line.startswith("[skip]") for line in logs) == 7
