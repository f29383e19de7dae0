"""A study assembled over two sessions (`tft carry`): students trained in one run folder are carried
without weights to a fresh one, where `tft run` reuses them (nothing trained, nothing predicted) and
scores exactly what the first run scored; a carried student that would have to predict again stops
with an error that says to retrain it."""

import json

import pytest

from tft_utils.core import fresh
from tft_utils.core.io import DataError
from tft_utils.run.carry import restore, save
from tft_utils.run.study import run_study

pytestmark = pytest.mark.slow


def _judge(run_dir):
    r = json.loads((run_dir / "s4" / "results.json").read_text())
    return {arm: m["llm_as_a_judge"]["mean"] for arm, m in r["metrics"].items()}


def test_students_carried_to_a_fresh_run(sgd_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))

    def go(root, *overrides):
        return run_study(
            ["s4"],
            profile="smoke",
            run="carry",
            overrides=[f"run.outputs={root}", *overrides],
            log=lambda *_: None,
        )

    first = go(tmp_path / "session1")
    save(first, tmp_path / "carried", log=lambda *_: None)
    assert not [f for f in (tmp_path / "carried").rglob("*") if f.suffix in (".safetensors", ".bin", ".pt")]

    second_dir = tmp_path / "session2" / "carry"
    restore(tmp_path / "carried", second_dir, log=lambda *_: None)
    second = go(tmp_path / "session2")
    for arm in ("direct", "tft"):
        model = second / "s4" / "models" / f"{arm}-seed0"
        assert not (model / "config.json").exists(), f"{arm} was trained again"
        assert fresh.read(model)["digest"] == fresh.read(first / "s4" / "models" / f"{arm}-seed0")["digest"]
    assert _judge(second) == _judge(first)
    cost = json.loads((second / "report" / "report.json").read_text())["cost"]["students"]
    assert len(cost) == 2 and all(row["tokens"] for row in cost)  # the training record travelled too

    # a change of decoding makes the predictions stale: the carried student cannot predict again, and
    # the error says how to fix it (the untuned base, which has its weights, predicts first)
    with pytest.raises(DataError, match=r"direct seed 0: .*carried without its weights.*trained again"):
        go(tmp_path / "session2", "predict.max_new_tokens=64")
