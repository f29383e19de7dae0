import json

import pytest

from tests.sgd_factory import dialogue, write_sgd
from tft_utils.core.io import DataError
from tft_utils.data.traces import build_dataset, dialogue_to_trace, tools_from_schema, trace_to_pairs
from tft_utils.domain.calls import call_of


def test_dialogue_to_trace_follows_the_conversion_rules():
    trace = dialogue_to_trace(dialogue("1_00000"))
    roles = [m["role"] for m in trace["messages"]]
    # user, call, results, reply, user, reply, user, call, results, reply, user, reply
    assert roles == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert call_of(trace["messages"][1]) == ("FindRestaurants", {"city": "San Jose", "cuisine": "Mexican"})
    results = json.loads(trace["messages"][2]["content"])
    assert list(results[0]) == sorted(results[0])  # keys sorted
    assert trace["messages"][2]["content"].startswith('[{"city": "San Jose", "cuisine"')  # default separators
    assert call_of(trace["messages"][3]) == (
        "respond_to_user",
        {"message": "Taqueria 1_00000 is a nice place in San Jose."},
    )
    tc = trace["messages"][1]["tool_calls"][0]
    assert tc["id"].startswith("call_") and len(tc["id"]) == 17 and tc["type"] == "function"
    assert isinstance(tc["function"]["arguments"], str)


def test_pairs_expand_every_assistant_turn_with_object_arguments():
    trace = dialogue_to_trace(dialogue("1_00000"))
    pairs = trace_to_pairs(trace)
    assert len(pairs) == 6
    first = pairs[0]
    assert first["turn"] == 1 and json.loads(first["question"]) == [trace["messages"][0]]
    assert json.loads(first["answer"]) == {
        "name": "FindRestaurants",
        "parameters": {"city": "San Jose", "cuisine": "Mexican"},
    }
    q = json.loads(pairs[2]["question"])
    assert isinstance(q[1]["tool_calls"][0]["function"]["arguments"], dict)


def test_tools_from_schema_lists_required_and_optional():
    from tests.sgd_factory import R1_SCHEMA

    tools = {t["function"]["name"]: t["function"] for t in tools_from_schema(R1_SCHEMA)}
    assert set(tools) == {"FindRestaurants", "ReserveRestaurant", "respond_to_user"}
    assert tools["FindRestaurants"]["parameters"]["required"] == ["cuisine", "city"]
    assert tools["FindRestaurants"]["parameters"]["properties"]["price_range"]["enum"][0] == "inexpensive"


def test_build_dataset_splits_and_writes(tmp_path):
    sgd = write_sgd(tmp_path / "sgd")
    ids = tmp_path / "test_ids.txt"
    ids.write_text("1_00001\n")
    excl = tmp_path / "excl.txt"
    excl.write_text("1_00002\n")
    stats = build_dataset(sgd, tmp_path / "out", test_ids=str(ids), excluded_ids=str(excl))
    assert stats["train_pool"] == 2 and stats["test"] == 1 and stats["test_pairs"] == 6
    pool = [json.loads(line) for line in open(tmp_path / "out" / "train_pool.jsonl")]
    assert {t["dialogue_id"] for t in pool} == {"1_00000", "1_00003"}
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_unknown_test_id_names_the_id(tmp_path):
    sgd = write_sgd(tmp_path / "sgd")
    ids = tmp_path / "test_ids.txt"
    ids.write_text("1_99999\n")
    with pytest.raises(DataError, match="1_99999"):
        build_dataset(sgd, tmp_path / "out", test_ids=str(ids), excluded_ids="none")
    assert not (tmp_path / "out" / "train_pool.jsonl").exists()


def test_malformed_sgd_file_names_the_file(tmp_path):
    sgd = write_sgd(tmp_path / "sgd")
    (sgd / "train" / "dialogues_002.json").write_text("[{not json")
    with pytest.raises(DataError, match="dialogues_002.json"):
        build_dataset(sgd, tmp_path / "out", excluded_ids="none")


def test_unknown_service_is_a_clear_error(tmp_path):
    sgd = write_sgd(tmp_path / "sgd")
    with pytest.raises(DataError, match="Trains_1"):
        build_dataset(sgd, tmp_path / "out", service="Trains_1", excluded_ids="none")
