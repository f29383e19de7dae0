import copy
import json
import random

import pytest

from tft_utils.core.io import read_json, read_jsonl
from tft_utils.core.params import load_params
from tft_utils.synth.validate import (
    NearDup,
    Validator,
    dialogue_text,
    judge_conversation,
    schema_errors,
    shingles,
    tool_specs,
)


@pytest.fixture(scope="module")
def data(dataset_dir):
    return {
        "pool": read_jsonl(dataset_dir / "train_pool.jsonl"),
        "test": read_jsonl(dataset_dir / "test.jsonl"),
        "tools": read_json(dataset_dir / "tools.json"),
    }


@pytest.fixture()
def cfg():
    return load_params("cpu")["validate"]


def set_call(row: dict, index: int, name: str, args: dict) -> dict:
    row = copy.deepcopy(row)
    row["messages"][index]["tool_calls"][0]["function"] = {"name": name, "arguments": json.dumps(args)}
    return row


def first_call(row: dict) -> int:
    return next(
        i
        for i, m in enumerate(row["messages"])
        if m["role"] == "assistant" and m["tool_calls"][0]["function"]["name"] != "respond_to_user"
    )


def test_schema_errors_name_the_message_and_the_problem(data):
    tools = tool_specs(data["tools"])
    row = data["pool"][0]
    i = first_call(row)
    assert schema_errors(row, tools) == []
    assert schema_errors(set_call(row, i, "BookHotel", {"city": "x"}), tools) == [
        f"message {i}: unknown function BookHotel"
    ]
    errs = schema_errors(set_call(row, i, "ReserveRestaurant", {"city": "x", "mood": "good"}), tools)
    assert errs == [
        f"message {i}: ReserveRestaurant misses required restaurant_name, time",
        f"message {i}: ReserveRestaurant has unknown parameter(s) mood",
    ]


def test_near_dup_index_is_exact_jaccard(data):
    rows = data["pool"][:40]
    index = NearDup(3)
    for r in rows[1:]:
        index.add(r["dialogue_id"], dialogue_text(r))
    q = shingles(dialogue_text(rows[0]), 3)
    brute = max(
        (len(q & shingles(dialogue_text(r), 3)) / len(q | shingles(dialogue_text(r), 3)), r["dialogue_id"])
        for r in rows[1:]
    )
    key, sim = index.nearest(dialogue_text(rows[0]))
    assert (round(sim, 9), key) == (round(brute[0], 9), brute[1])
    assert index.nearest(dialogue_text(rows[5]))[1] == 1.0
    assert index.nearest(dialogue_text(rows[5]), exclude=rows[5]["dialogue_id"])[1] < 1.0


def test_rules_judge_keeps_real_conversations_and_flags_broken_ones(data):
    scores = [judge_conversation(r)[0] for r in data["pool"]]
    assert sum(s >= 4 for s in scores) / len(scores) >= 0.9  # calibrated on real SGD traces
    row = data["pool"][3]
    i = first_call(row)
    name = row["messages"][i]["tool_calls"][0]["function"]["name"]
    args = json.loads(row["messages"][i]["tool_calls"][0]["function"]["arguments"])
    broken = set_call(row, i, name, {**args, "city": "Atlantis"})
    score, issues = judge_conversation(broken)
    assert any("city='Atlantis' was never said" in x for x in issues)
    assert any("result does not match the call on city" in x for x in issues)
    shuffled = copy.deepcopy(row)
    random.Random(0).shuffle(shuffled["messages"])
    assert judge_conversation(shuffled)[0] <= 2


def test_validator_rejects_with_reasons_and_checks_the_test_set(data, cfg):
    seeds, test = data["pool"][:5], data["test"]
    v = Validator(seeds, test, data["tools"], cfg)
    leaked = {**copy.deepcopy(test[7]), "dialogue_id": "synth/000001"}
    out = v.check(leaked)
    assert not out["ok"] and any(
        r.startswith(f"near-duplicate of test {test[7]['dialogue_id']}") for r in out["reasons"]
    )
    copied = {**copy.deepcopy(seeds[2]), "dialogue_id": "synth/000002"}
    assert any(r.startswith("near-duplicate of seed") for r in v.check(copied)["reasons"])
    fresh = {**copy.deepcopy(data["pool"][100]), "dialogue_id": "synth/000003"}
    res = v.check(fresh)
    assert res["ok"] or res["reasons"][0].startswith("judge"), res["reasons"]
    if res["ok"]:  # the same conversation again is now a near-duplicate of an accepted synthetic one
        again = {**copy.deepcopy(fresh), "dialogue_id": "synth/000004"}
        assert any(
            r.startswith("near-duplicate of synthetic synth/000003") for r in v.check(again)["reasons"]
        )
    long_row = copy.deepcopy(data["pool"][100])
    long_row["messages"] = long_row["messages"] * 3
    assert any(r.startswith("length:") for r in v.check(long_row)["reasons"])
    assert v.check(None, "no JSON object")["reasons"] == ["parse: no JSON object"]


def test_validator_rejects_ungrounded_candidates_and_counts_test_leaks(data, cfg):
    seeds, test = data["pool"][:5], data["test"]
    v = Validator(seeds, test, data["tools"], cfg)
    row = {**copy.deepcopy(data["pool"][100]), "dialogue_id": "synth/000001"}
    assert v.check(row)["grounding"]["valid"]
    i = first_call(row)
    name = row["messages"][i]["tool_calls"][0]["function"]["name"]
    args = json.loads(row["messages"][i]["tool_calls"][0]["function"]["arguments"])
    bad = {**set_call(row, i, name, {**args, "city": "Atlantis"}), "dialogue_id": "synth/000002"}
    out = v.check(bad)
    assert not out["ok"] and out["grounding"]["error_type"] == "grounding:call_value"
    assert f"grounding:call_value: message {i}: {name}.city='Atlantis' was never said" in " ".join(
        out["reasons"]
    )
    leaked = {**copy.deepcopy(test[7]), "dialogue_id": "synth/000003"}
    assert not v.check(leaked)["ok"]
    summary = v.summary()
    assert (
        summary["grounding"]["candidates"] == 3
        and summary["grounding"]["by_error_type"]["grounding:call_value"] == 1
    )
    assert summary["leakage"]["test_near_duplicates_dropped"] == 1
    assert summary["leakage"]["dropped"][0]["test_id"] == test[7]["dialogue_id"]
    assert v.check(None, "no JSON object")["reasons"] == ["parse: no JSON object"]
    assert v.summary()["grounding"]["candidates"] == 3  # an unparsed candidate has no grounding verdict
