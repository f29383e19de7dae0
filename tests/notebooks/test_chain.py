"""The whole chain (notebooks 01 -> 07) for one scenario on the `smoke` profile, through `tft run`."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from tft_utils.run.study import run_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(sgd_dir, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("TFT_SGD_DIR", str(sgd_dir))
    out = tmp_path_factory.mktemp("outputs")
    run_dir = run_study(
        ["s2"],
        profile="smoke",
        run="chain",
        overrides=[f"run.outputs={out}"],
        seeds=[0, 1],  # two training seeds per arm: the report's noise floor
        log=lambda *a: None,
    )
    return run_dir


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def m_close(a: float, b: float) -> bool:
    return math.isclose(a, b, abs_tol=1e-9)


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
    from tft_utils.evaluate.results import SCHEMA_VERSION, ScenarioResults

    assert ScenarioResults.read(smoke_run / "s2" / "results.json").schema_version == SCHEMA_VERSION
    res = json.loads((smoke_run / "s2" / "results.json").read_text())
    assert res["scenario"] == "s2" and res["profile"] == "smoke"
    for arm in ("base", "direct", "tft"):
        m = res["metrics"][arm]["llm_as_a_judge"]
        assert 0.0 <= m["ci_low"] <= m["mean"] <= m["ci_high"] <= 1.0
    assert set(res["paired"]["llm_as_a_judge"]) >= {
        "diff",
        "ci_low",
        "ci_high",
        "pairs",
        "t_verdict",
        "seed_df",
    }
    assert res["paired"]["llm_as_a_judge"]["pairs"] == 360
    assert res["provenance"]["git_commit"] and res["provenance"]["params"]["run"]["profile"] == "smoke"
    assert res["provenance"]["params"]["run"]["name"] == smoke_run.name  # the run, not "default"
    # each arm trained per seed; the spread between seeds is recorded beside the pooled score
    assert sorted(p.name for p in (smoke_run / "s2" / "models").iterdir()) == [
        "direct-seed0",
        "direct-seed1",
        "tft-seed0",
        "tft-seed1",
    ]
    for arm in ("direct", "tft"):
        m = res["metrics"][arm]["llm_as_a_judge"]
        assert len(m["per_seed"]) == 2 and m["seed_sd"] >= 0.0
        assert m_close(np.mean(m["per_seed"]), m["mean"])
        assert m["seeds"] == [0, 1] and m["resampled"] == "test conversations and training seeds"
    # a model card per student, its model-index holding that seed's own score (issue 14 item 4)
    from huggingface_hub import ModelCard

    for arm in ("direct", "tft"):
        for k, seed in enumerate((0, 1)):
            meta = ModelCard.load(
                smoke_run / "s2" / "models" / f"{arm}-seed{seed}" / "README.md"
            ).data.to_dict()
            scores = {m["type"]: m["value"] for r in meta["model-index"][0]["results"] for m in r["metrics"]}
            assert scores["llm_as_a_judge"] == round(res["metrics"][arm]["llm_as_a_judge"]["per_seed"][k], 4)
    # seed-aware verdict (issue 11, item 6) and the machine it ran on (item 7)
    d = res["paired"]["llm_as_a_judge"]
    assert d["verdict"] in ("TFT ahead", "TFT behind", "no difference detected")
    assert d["min_detectable_diff"] >= 0.0 and d["seeds"] == {"tft": [0, 1], "direct": [0, 1]}
    assert res["interval"]["over"] == "test conversations and training seeds"
    assert set(res["provenance"]["machine"]["cpu"]["isa"]) >= {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}


def test_report_has_table_figures_and_html(smoke_run):
    report = smoke_run / "report"
    for name in ("table.md", "table.csv", "scores.png", "delta.png", "report.html", "report.json"):
        assert (report / name).stat().st_size > 0, name
    assert "S2 Noisy Labels" in (report / "table.md").read_text()
    table = pd.read_csv(report / "table.csv")
    for col in ("tft_seed_sd", "direct_seed_sd", "delta_seed_sd"):  # two seeds per arm: spreads measured
        assert table[col].notna().all(), col
    assert table["verdict"].notna().all() and table["min_detectable"].notna().all()
    assert table["t_verdict"].notna().all() and table["t_delta_ci"].str.startswith("[").all()  # few seeds'
    assert "With few seeds (t)" in (report / "table.md").read_text()
    assert (table["ci_covers"] == "test sampling + training seeds").all()
    assert "two-level bootstrap" in (report / "table.md").read_text()
    # what it cost (issue 11 item 8): each of the 4 students with its tokens, time and machine
    cost = json.loads((report / "report.json").read_text())["cost"]
    assert [(r["arm"], r["seed"]) for r in cost["students"]] == [
        ("direct", 0),
        ("direct", 1),
        ("tft", 0),
        ("tft", 1),
    ]
    assert all(r["tokens"] > 0 and r["minutes"] >= 0 and " thread" in r["machine"] for r in cost["students"])
    assert cost["tool_base"] is None  # the smoke profile uses none
    # and each model's prediction of the 360 test pairs, the untuned base once
    predicted = sorted((r["scenario"], r["model"]) for r in cost["predictions"])
    assert predicted == [("(all)", "base")] + [
        ("s2", f"{a}-seed{k}") for a in ("direct", "tft") for k in (0, 1)
    ]
    assert all(
        r["pairs"] == 360 and r["minutes"] >= 0 and " thread" in r["machine"] for r in cost["predictions"]
    )


def test_no_cell_shows_a_stray_path(smoke_run):
    """A cell's last value is shown as Out[n]; none is a path a writer returned (`PosixPath('/tmp/...')`),
    least of all in the report's HTML."""
    for nb in smoke_run.rglob("notebooks/*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                shown = "".join(out.get("data", {}).get("text/plain", ""))
                assert "PosixPath(" not in shown, (nb.name, "".join(cell["source"])[:100])
    html = (smoke_run / "report" / "report.html").read_text()
    assert "PosixPath(" not in html
    # written for a reader: no code and no In/Out prompts (the names survive only in nbconvert's CSS)
    assert not re.search(r'class="jp-(In|Out)putPrompt', html) and 'class="jp-CodeMirrorEditor' not in html


def test_a_rerun_skips_every_finished_stage(smoke_run):
    logs = []
    run_study(
        ["s2"],
        profile="smoke",
        run="chain",
        overrides=[f"run.outputs={smoke_run.parent}"],
        seeds=[0, 1],
        log=logs.append,
    )
    assert sum(line.startswith("[skip]") for line in logs) == 7


def test_a_plan_made_after_the_run_counts_only_the_seeds_left(smoke_run):
    from tft_utils.plan.estimate import make_plan

    ovs = [f"run.outputs={smoke_run.parent}"]
    # every model and prediction of seeds 0 and 1 is current: nothing left to train or predict
    done = make_plan("smoke", ["s2"], ovs, run="chain", seeds=[0, 1])
    rows = {s.arm: s for s in done.students}
    assert (rows["base"].predicted, rows["base"].predict_hours) == (1, 0.0)
    for arm in ("direct", "tft"):
        assert (rows[arm].trained, rows[arm].predicted) == (2, 2)
        assert rows[arm].train_hours == rows[arm].predict_hours == 0.0 < rows[arm].train_tokens
    assert done.totals()["student_hours"] == 0.0
    # a third seed: that seed alone is left, a third of what the three seeds train and predict
    more = make_plan("smoke", ["s2"], ovs, run="chain", seeds=[0, 1, 2])
    rate = done.assumptions
    for s in (s for s in more.students if s.arm in ("direct", "tft")):
        assert (s.seeds, s.trained, s.predicted) == (3, 2, 2)
        assert math.isclose(
            s.train_hours, s.train_tokens / 3 / rate["train_tokens_per_s"] / 3600, abs_tol=1e-4
        )
        assert math.isclose(
            s.predict_hours, s.predict_tokens / 3 / rate["predict_tokens_per_s"] / 3600, abs_tol=1e-4
        )
    # another recipe makes every model stale: all of it is left again
    other = make_plan("smoke", ["s2"], [*ovs, "train.lr=0.5"], run="chain", seeds=[0, 1])
    assert all(s.trained == s.predicted == 0 for s in other.students if s.arm in ("direct", "tft"))
    assert all(s.train_hours > 0 for s in other.students if s.arm in ("direct", "tft"))


def test_the_kernels_progress_bars_are_kept_at_their_last_state_and_in_the_log(smoke_run):
    from tft_utils.run.progress import Reader

    nb = json.loads((smoke_run / "s2" / "notebooks" / "05_finetune.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    streams = "".join("".join(o["text"]) for o in outputs if o["output_type"] == "stream")
    # text bars, each at its end (no widget saved at 0%, no carriage-return updates left)
    assert not [o for o in outputs if "0%|" in str(o.get("data", {}).get("text/plain", ""))]
    assert streams.count("train: 100%|") == 4 and "\r" not in streams  # 2 arms x 2 seeds
    # the kernel echoed them to its log, where tft run reads what the stage is doing
    log = smoke_run / "s2" / "notebooks" / "06_evaluate.kernel.log"
    assert Reader(log).status().startswith("tft seed 1: predict 360/360 [")
