"""The report's cost section reads what notebooks 05 and 06 recorded, per student and per model, with its machine."""

import json

import pytest

from tft_utils.core import fresh
from tft_utils.core.params import load_params
from tft_utils.evaluate.compare import prediction_record
from tft_utils.report.cost import (
    cost_text,
    machine_text,
    prediction_cost,
    run_cost,
    seed_minutes,
    tool_base_cost,
    training_cost,
)
from tft_utils.report.tables import frame_markdown

PARAMS = {"run": {"jobs": 1}, "student": {"device": "cpu", "dtype": "auto"}}
EPYC = {
    "cpu": {
        "model": "AMD EPYC",
        "isa": {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False},
    },
    "torch_threads": 2,
    "cuda_device": None,
}


def stats(arm: str, seed: int, tokens: int, seconds: float) -> dict:
    return {
        "arm": arm,
        "seed": seed,
        "steps": 500,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": round(tokens / seconds, 1),
        "dtype": "float32",
        "machine": EPYC,
        "history": [{"step": 1}],
    }


def test_students_of_every_trained_scenario_with_their_own_time_and_machine(tmp_path):
    (tmp_path / "s4").mkdir()
    rows = [stats("direct", 0, 385_334, 2152.3), stats("tft", 0, 377_626, 2220.0)]
    (tmp_path / "s4" / "05_results.json").write_text(json.dumps({"training": rows}))
    cost = training_cost(tmp_path, ["s2", "s4"])  # s2 not trained yet: skipped, not an error
    assert list(cost["scenario"]) == ["s4", "s4"] and list(cost["arm"]) == ["direct", "tft"]
    assert list(cost["minutes"]) == [35.9, 37.0] and cost["tokens"].sum() == 762_960
    assert set(cost["machine"]) == {"AMD EPYC (avx2), 2 threads, float32"}
    text = cost_text(cost)
    # 762,960 tokens in 72.9 min = 4374 s -> 174 tokens/s
    assert text.startswith("2 students trained on 0.76M tokens in 1.2 h (174 tokens/s overall)")
    assert "AMD EPYC (avx2), 2 threads, float32" in text and "tool-calling base" not in text


def test_the_cost_table_shows_each_machine_whole_without_row_numbers(tmp_path):
    (tmp_path / "s3").mkdir()
    xeon = {**EPYC, "cpu": {**EPYC["cpu"], "model": "Intel(R) Xeon(R) Processor @ 2.80GHz"}}
    rows = [{**stats("direct", 0, 391_767, 2316.0), "machine": xeon}]
    (tmp_path / "s3" / "05_results.json").write_text(json.dumps({"training": rows}))
    lines = frame_markdown(training_cost(tmp_path, ["s3"])).splitlines()
    # pandas' HTML cut this 62-character cell to "Intel(R) Xeon(R) Processor @ 2.80GHz (avx2, av..."
    assert lines[0].startswith("| scenario | arm | seed |")
    assert lines[2] == (
        "| s3 | direct | 0 | 500 | 391767 | 38.6 | 1 | 169.2 | "
        "Intel(R) Xeon(R) Processor @ 2.80GHz (avx2), 2 threads, float32 |"
    )
    assert frame_markdown(training_cost(tmp_path, ["s1"])) == ""


def test_the_tool_base_is_shown_once_apart(tmp_path):
    base = tmp_path / "tool-base"
    base.mkdir()
    (base / "train_stats.json").write_text(json.dumps(stats("?", 0, 282_059, 1412.5)))
    row = tool_base_cost(base)
    assert row["arm"] == "tool base" and row["minutes"] == 23.5 and row["scenario"] == "(all)"
    assert tool_base_cost(tmp_path / "absent") is None and tool_base_cost(None) is None
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "05_results.json").write_text(json.dumps({"training": [stats("tft", 1, 1000, 10.0)]}))
    text = cost_text(training_cost(tmp_path, ["s1"]), row)
    assert "took 23.5 min (282k tokens), once per machine; it is not in the sum" in text
    assert cost_text(training_cost(tmp_path, ["s3"])) == "No student of this run recorded its training."


def test_each_predicted_model_with_its_time_and_machine_from_the_record_beside_its_file(tmp_path):
    def predicted(path, seconds, pairs=360):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")
        done = {
            "pairs": 360,
            "predicted": pairs,
            "seconds": seconds,
            "pairs_per_s": round(pairs / seconds, 2),
        }
        rec = prediction_record(done, PARAMS)
        assert rec["predicted"] == pairs and rec["dtype"] in ("bfloat16", "float32")
        fresh.stamp(path, {"digest": "d", "predicted": {**rec, "machine": EPYC, "dtype": "bfloat16"}})

    predicted(tmp_path / "base" / "predictions-sgd.jsonl", 224.0)
    predicted(tmp_path / "s2" / "predictions" / "direct-seed0.jsonl", 132.0)
    predicted(tmp_path / "s2" / "predictions" / "tft-seed0.jsonl", 60.0, pairs=120)  # resumed: its last part
    (tmp_path / "s2" / "predictions" / "direct-seed0.scored.jsonl").write_text("{}\n")  # scores: not a model
    (tmp_path / "s2" / "predictions" / "teacher.jsonl").write_text("{}\n")  # an endpoint's: no record
    fresh.stamp(tmp_path / "s2" / "predictions" / "teacher.jsonl", {"digest": "t"})
    cost = prediction_cost(tmp_path, ["s1", "s2"])  # s1 not predicted yet: skipped
    assert list(cost["model"]) == ["base", "direct-seed0", "tft-seed0"]
    assert list(cost["scenario"]) == ["(all)", "s2", "s2"] and list(cost["pairs"]) == [360, 360, 120]
    assert list(cost["minutes"]) == [3.7, 2.2, 1.0] and list(cost["pairs_per_s"]) == [1.61, 2.73, 2.0]
    assert set(cost["machine"]) == {"AMD EPYC (avx2), 2 threads, bfloat16"}
    text = cost_text(training_cost(tmp_path, ["s2"]), None, cost)
    # 840 pairs in 3.7 + 2.2 + 1.0 = 6.9 min = 414 s -> 2.03 pairs/s
    assert text.endswith(
        "Predicting the test pairs took 7 min for 3 models (840 pairs, 2.03 pairs/s overall)."
    )
    assert frame_markdown(prediction_cost(tmp_path, ["s1"])).count("\n") == 2  # the header and the base


def test_what_one_more_seed_costs_is_its_students_and_their_predictions(tmp_path):
    (tmp_path / "s4").mkdir()
    rows = [stats(a, k, 1000, 60.0 * (1 + k)) for a in ("direct", "tft") for k in (0, 1)]  # 1 and 2 min
    (tmp_path / "s4" / "05_results.json").write_text(json.dumps({"training": rows}))
    cost = training_cost(tmp_path, ["s4"])
    # seed 0: 2 x 1 min, seed 1: 2 x 2 min: one more seed costs what the seeds after the first did
    assert seed_minutes(cost) == (4.0, "training its 2 students", 2.0)
    for arm in ("direct", "tft"):
        for k, seconds in ((0, 30.0), (1, 90.0)):
            path = tmp_path / "s4" / "predictions" / f"{arm}-seed{k}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}\n")
            done = {
                "pairs": 360,
                "predicted": 360,
                "seconds": seconds,
                "pairs_per_s": round(360 / seconds, 2),
            }
            fresh.stamp(path, {"digest": "d", "predicted": prediction_record(done, PARAMS)})
    # + the base's prediction, which no seed adds
    base = tmp_path / "base" / "predictions-sgd.jsonl"
    base.parent.mkdir()
    base.write_text("{}\n")
    fresh.stamp(
        base,
        {
            "digest": "d",
            "predicted": prediction_record(
                {"pairs": 360, "predicted": 360, "seconds": 600.0, "pairs_per_s": 0.6}, PARAMS
            ),
        },
    )
    predictions = prediction_cost(tmp_path, ["s4"])
    # seed 0: 2 x (1 + 0.5) min, seed 1: 2 x (2 + 1.5) min
    assert seed_minutes(cost, predictions) == (7.0, "training its 2 students and predicting with them", 3.0)
    assert cost_text(cost, None, predictions).endswith(
        "Each training seed after the first cost 7 min (training its 2 students and predicting with them, the "
        "mean over those seeds; the first cost 3 min)."
    )
    one = training_cost(tmp_path, ["s4"])
    one = one[one["seed"] == 0]
    assert seed_minutes(one) == (2.0, "training its 2 students", None)
    assert cost_text(one).endswith("Each training seed cost 2 min (training its 2 students).")
    # a student whose prediction has no record: the seed's cost is its training only
    assert (
        seed_minutes(cost, predictions[predictions["model"] != "tft-seed1"])[1] == "training its 2 students"
    )
    assert seed_minutes(training_cost(tmp_path, ["s1"])) is None


def test_models_side_by_side_cost_the_machine_their_time_shared(tmp_path):
    """run.jobs 2: each student's and prediction's minutes are its own, on its share of the threads; the
    machine's time, the speed overall and a seed's cost count two at a time."""
    (tmp_path / "s1").mkdir()
    one = {**EPYC, "torch_threads": 1}
    rows = [
        {**stats(a, k, 120_000, 600.0), "jobs": 2, "machine": one} for a in ("direct", "tft") for k in (0, 1)
    ]
    (tmp_path / "s1" / "05_results.json").write_text(json.dumps({"training": rows}))
    cost = training_cost(tmp_path, ["s1"])
    assert list(cost["minutes"]) == [10.0] * 4 and list(cost["at_once"]) == [2] * 4
    for arm in ("direct", "tft"):
        for k in (0, 1):
            path = tmp_path / "s1" / "predictions" / f"{arm}-seed{k}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}\n")
            done = {"pairs": 360, "predicted": 360, "seconds": 120.0, "pairs_per_s": 3.0}
            rec = prediction_record(done, {**PARAMS, "run": {"jobs": 2}})
            fresh.stamp(path, {"digest": "d", "predicted": rec})
    predictions = prediction_cost(tmp_path, ["s1"])
    assert list(predictions["at_once"]) == [2] * 4
    text = cost_text(cost, None, predictions)
    # 4 x 10 min two at a time: 20 min of the machine, 480,000 tokens / 1200 s = 400 tokens/s
    assert text.startswith(
        "4 students trained on 0.48M tokens in 0.3 h (2 at a time, run.jobs: 0.7 h of their own) "
        "(400 tokens/s overall) on AMD EPYC (avx2), 1 thread, float32."
    )
    # 4 x 2 min two at a time: 4 min; 1440 pairs / 240 s = 6 pairs/s
    assert (
        "took 4 min (2 at a time, run.jobs: 8 min of their own) for 4 models (1,440 pairs, 6.00 pairs/s"
        in text
    )
    # a seed: 2 students x (10 + 2) min, halved
    assert seed_minutes(cost, predictions) == (12.0, "training its 2 students and predicting with them", 12.0)


def test_machine_text_names_the_gpu_or_the_cpu_and_its_isa():
    assert machine_text({**EPYC, "cuda_device": "NVIDIA H200"}) == "NVIDIA H200"
    amx = {"cpu": {"model": "Intel Xeon", "isa": {"avx2": True, "amx_bf16": True}}, "torch_threads": None}
    assert machine_text(amx) == "Intel Xeon (avx2, amx_bf16)"
    assert machine_text(None) == "unknown"


@pytest.mark.parametrize(("profile", "has_base"), [("smoke", False), ("cpu", True)])
def test_run_cost_looks_for_the_base_only_when_the_profile_uses_one(tmp_path, profile, has_base):
    params = load_params(profile, None, [f"student.cache_dir={tmp_path}"])
    cost, base, predictions = run_cost(tmp_path, ["s1"], params)
    assert (
        cost.empty and base is None and predictions.empty
    )  # nothing trained, no base built under this cache
    if has_base:
        from tft_utils.train.tool_base import tool_base_folder

        folder = tool_base_folder(params)
        folder.mkdir(parents=True)
        (folder / "train_stats.json").write_text(json.dumps(stats("?", 0, 282_059, 1412.5)))
        assert run_cost(tmp_path, ["s1"], params)[1]["tokens"] == 282_059


def test_the_record_paragraph_names_files_and_provenance_but_no_machine_path():
    from tft_utils.report.record import record_text

    report = {
        "files": {"table_md": "/tmp/x/report/table.md", "scores_png": "/home/me/run/report/scores.png"},
        "provenance": {
            "git_commit": "ec306888064179aa0e74bab678972e13fa1a5d36",
            "created": "2026-12-04T08:30:00+00:00",
            "python": "3.12.3",
            "packages": {"torch": "2.13.0+cpu", "transformers": "5.23.0", "numpy": "2.4.6"},
            "machine": {
                "cpu": {"model": "Intel Xeon", "isa": {"avx2": True, "amx_bf16": False}},
                "torch_threads": 2,
            },
        },
    }
    text = record_text(report)
    assert "`scores.png`, `table.md`" in text and "`report.json`" in text
    assert "/tmp/" not in text and "/home/" not in text
    assert "commit `ec30688`" in text and "2026-12-04T08:30:00+00:00" in text
    assert "Intel Xeon (avx2), 2 threads" in text and "torch 2.13.0+cpu, transformers 5.23.0" in text
    assert "numpy" not in text  # only the packages that decide a score or a speed
    bare = record_text({})  # an old report.json without provenance still gives a sentence
    assert "commit `unknown`" in bare and "no other file" in bare


def test_students_of_a_few_seconds_cost_no_speed_rather_than_a_division_by_zero(tmp_path):
    """The smoke profile's students train in a second: 0.0 min once rounded, so no tokens/s overall."""
    (tmp_path / "s1").mkdir()
    rows = [{**stats("direct", 0, 900, 1.0), "jobs": 2}]
    (tmp_path / "s1" / "05_results.json").write_text(json.dumps({"training": rows}))
    text = cost_text(training_cost(tmp_path, ["s1"]))
    assert text.startswith(
        "1 students trained on 0.00M tokens in 0.0 h (2 at a time, run.jobs: 0.0 h of their own) on "
    )
