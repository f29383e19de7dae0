"""Honest reruns through `tft run` (smoke profile, S4): a change reruns exactly what it feeds.

- nothing changed -> every stage skipped, no output rewritten (0 trainings, 0 predictions);
- train.max_steps changed -> both students retrain, their predictions and scores follow;
  cleaning and synthesis are reused;
- synth.n changed -> synthesis reruns, the TFT student retrains; the Direct student (whose data
  and params did not change) is reused;
- --force on stages 05 and 06 -> their outputs are rebuilt though current (the base's predictions, shared by
  the run's scenarios, included), and nothing upstream is (`--force` with every stage rebuilds everything:
  the same flag, asked of every stage);
- carried (`tft carry`) to a fresh run folder, as in a later session: the students are reused without
  their weights (nothing trained, nothing predicted, the same scores and training record); a change that
  would make a carried student predict again stops with an error that says to retrain it.
"""

import json

import pytest

from tft_utils.core import fresh
from tft_utils.core.io import DataError
from tft_utils.run.carry import restore, save
from tft_utils.run.study import run_study

pytestmark = pytest.mark.slow


def _mtime(path):
    side = fresh.sidecar(path)
    return side.stat().st_mtime_ns if side.exists() else None


def _state(run_dir):
    s = run_dir / "s4"
    outs = {
        "clean": s / "clean",
        "synth": s / "synth",
        "direct": s / "models" / "direct-seed0",
        "tft": s / "models" / "tft-seed0",
        "pred_direct": s / "predictions" / "direct-seed0.jsonl",
        "pred_tft": s / "predictions" / "tft-seed0.jsonl",
        "pred_base": run_dir / "base" / "predictions-sgd.jsonl",
        "results": s / "notebooks" / "06_evaluate.ipynb",
    }
    return {k: _mtime(p) for k, p in outs.items()}


def _steps(run_dir, arm):
    return json.loads((run_dir / "s4" / "models" / f"{arm}-seed0" / "train_stats.json").read_text())["steps"]


def test_reruns_follow_what_changed(sgd_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))
    logs: list[str] = []

    def go(*overrides, force=False, stages=None, root=tmp_path):
        logs.clear()
        return run_study(
            ["s4"],
            profile="smoke",
            run="fresh",
            overrides=[f"run.outputs={root}", *overrides],
            force=force,
            stages=stages.split(",") if stages else None,
            log=logs.append,
        )

    run_dir = go("train.max_steps=3")
    first = _state(run_dir)
    assert all(first.values()), first
    assert _steps(run_dir, "direct") == _steps(run_dir, "tft") == 3

    go("train.max_steps=3")  # nothing changed
    assert sum(x.startswith("[skip]") for x in logs) == 7 and not any(x.startswith("[run]") for x in logs)
    assert _state(run_dir) == first

    go("train.max_steps=5")  # a training parameter
    ran = [x.split()[1] for x in logs if x.startswith("[run]")]
    assert ran == ["s4/05_finetune:", "s4/06_evaluate:", "report/07_report:"], logs
    after = _state(run_dir)
    assert _steps(run_dir, "direct") == _steps(run_dir, "tft") == 5
    changed = {k for k in first if after[k] != first[k]}
    assert changed == {"direct", "tft", "pred_direct", "pred_tft", "results"}, changed

    go("train.max_steps=5", "synth.n=12")  # the synthetic set's size
    ran = [x.split()[1] for x in logs if x.startswith("[run]")]
    assert ran == ["s4/04_synthesize:", "s4/05_finetune:", "s4/06_evaluate:", "report/07_report:"], logs
    again = _state(run_dir)
    changed = {k for k in after if again[k] != after[k]}
    assert changed == {"synth", "tft", "pred_tft", "results"}, changed
    synth = json.loads((run_dir / "s4" / "synth" / "synth_stats.json").read_text())
    assert synth["target"] == 12 and synth["validated"] == 12

    go("train.max_steps=5", "synth.n=12", force=True, stages="05,06")  # current, rebuilt all the same
    ran = [x.split()[1] for x in logs if x.startswith("[run]")]
    assert ran == ["s4/05_finetune:", "s4/06_evaluate:"], logs
    forced = _state(run_dir)
    changed = {k for k in forced if forced[k] != again[k]}
    assert changed == {"direct", "tft", "pred_direct", "pred_tft", "pred_base", "results"}, changed

    # a later session: the students travel without weights and are reused, not retrained
    save(run_dir, tmp_path / "carried", log=logs.append)
    assert not [f for f in (tmp_path / "carried").rglob("*") if f.suffix in (".safetensors", ".bin", ".pt")]
    later = tmp_path / "later"
    restore(tmp_path / "carried", later / "fresh", log=logs.append)
    second = go("train.max_steps=5", "synth.n=12", root=later)
    for arm in ("direct", "tft"):
        model = second / "s4" / "models" / f"{arm}-seed0"
        assert not (model / "config.json").exists(), f"{arm} was trained again"
        assert fresh.read(model)["digest"] == fresh.read(run_dir / "s4" / "models" / f"{arm}-seed0")["digest"]
    assert _judge(second) == _judge(run_dir)
    cost = json.loads((second / "report" / "report.json").read_text())["cost"]["students"]
    assert [row["steps"] for row in cost] == [5, 5]  # the training record travelled with them
    # new decoding makes the predictions stale: a carried student cannot predict again, and says so
    with pytest.raises(DataError, match=r"direct seed 0: .*carried without its weights.*trained again"):
        go("train.max_steps=5", "synth.n=12", "predict.max_new_tokens=64", root=later)


def _judge(run_dir):
    r = json.loads((run_dir / "s4" / "results.json").read_text())
    return {arm: m["llm_as_a_judge"]["mean"] for arm, m in r["metrics"].items()}
