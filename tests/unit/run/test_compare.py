"""`tft compare`: two runs, or a run and a carried folder, compared pair by pair and verdict by verdict."""

import json

import pytest

from tft_utils.cli import main
from tft_utils.core import fresh
from tft_utils.core.io import DataError, write_json
from tft_utils.run.carry import save
from tft_utils.run.compare import compare, render

CALL = '<tool_call>\n{{"name": "{}", "arguments": {{}}}}\n</tool_call>'
PAIRS = [("d1", 1), ("d1", 3), ("d2", 1)]


def _predictions(path, names):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps(
                {"dialogue_id": d, "turn": t, "question": "[]", "answer": "{}", "prediction": CALL.format(n)}
            )
            + "\n"
            for (d, t), n in zip(PAIRS, names, strict=True)
        )
    )
    fresh.stamp(path, fresh.make("predictions", {"name": path.name}, code=False))


def _student(path, weights: bytes, loss: float, amx: bool):
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    machine = {"cpu": {"model": "Some CPU", "isa": {"amx_bf16": amx}}}
    write_json(
        path / "train_stats.json", {"tokens": 100, "final_loss": loss, "machine": machine, "history": []}
    )
    fresh.stamp(path, fresh.make("student", {"name": path.name}, code=False))


def _results(path, diff, verdict):
    arm = {"llm_as_a_judge": {"mean": 0.7}}
    paired = {
        "llm_as_a_judge": {"diff": diff, "ci_low": diff - 0.05, "ci_high": diff + 0.05, "verdict": verdict}
    }
    write_json(path, {"metrics": {"tft": arm, "direct": arm}, "paired": paired})


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for run, amx, last, verdict in (
        (a, True, "FindRestaurants", "TFT ahead"),
        (b, False, "respond_to_user", "no difference detected"),
    ):
        _student(run / "s1" / "models" / "direct-seed0", b"same", 0.25, amx)
        _student(run / "s1" / "models" / "direct-seed1", b"seed 1 " + run.name.encode(), 0.3, amx)
        _predictions(
            run / "s1" / "predictions" / "direct-seed0.jsonl", ["respond_to_user", "FindRestaurants", last]
        )
        _predictions(run / "s1" / "predictions" / "direct-seed1.jsonl", ["respond_to_user"] * 3)
        _results(run / "s1" / "results.json", 0.1 if verdict == "TFT ahead" else 0.01, verdict)
    # a predictions file still being written (no fingerprint) is no one's finished work
    (b / "s1" / "predictions" / "tft-seed0.jsonl").write_text("half\n")
    return a, b


def test_two_runs(runs):
    res = compare(*runs)
    assert res["students"]["s1/direct-seed0"]["same_weights"] is True
    assert res["students"]["s1/direct-seed1"]["same_weights"] is False
    assert res["students"]["s1/direct-seed0"]["cpu"] == ["Some CPU (AMX)", "Some CPU"]
    assert set(res["predictions"]) == {"s1/direct-seed0", "s1/direct-seed1"}
    assert res["predictions"]["s1/direct-seed0"] == {
        "pairs": 3,
        "only_one": 0,
        "identical": 2,
        "same_function": 2,
    }
    assert res["predictions"]["s1/direct-seed1"]["identical"] == 3
    # seed 0 against seed 1 within a run: A differs in 2 pairs (FindRestaurants twice), B in 1
    assert res["between_seeds"]["A s1/direct"]["identical"] == 1
    assert res["between_seeds"]["B s1/direct"]["identical"] == 2
    assert res["verdicts"]["s1"]["a"]["verdict"] == "TFT ahead"
    text = render(res)
    assert "s1    verdicts DIFFER" in text and "66.7%" in text


def test_a_carried_folder_against_a_run(runs, tmp_path):
    a, b = runs
    save(a, tmp_path / "carried", log=lambda *_: None)  # records and predictions gzipped, no weights
    res = compare(tmp_path / "carried", b)
    assert res["students"]["s1/direct-seed0"]["same_weights"] is None  # no weights carried: not known
    assert res["students"]["s1/direct-seed0"]["final_loss"] == [0.25, 0.25]
    assert res["predictions"]["s1/direct-seed0"]["identical"] == 2
    assert res["verdicts"] == {}  # a carried folder holds no scores
    assert " -  " in render(res)


def test_bad_input_is_named(runs, tmp_path):
    a, b = runs
    with pytest.raises(DataError, match="not a folder"):
        compare(a, tmp_path / "missing")
    (b / "s1" / "predictions" / "direct-seed1.jsonl").write_text('{"dialogue_id": "d1"}\n')
    with pytest.raises(DataError, match=r"direct-seed1\.jsonl:1: missing field\(s\) turn, prediction"):
        compare(a, b)


def test_cli(runs, capsys):
    assert main(["compare", str(runs[0]), str(runs[1]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"]["s1/direct-seed0"]["identical"] == 2
    assert main(["compare", str(runs[0]), str(runs[0] / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err
