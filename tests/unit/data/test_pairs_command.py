"""`tft pairs`: a user's held-out traces -> test pairs, as `tft data` expands the SGD test set."""

import json

import pytest

from tests.sgd_factory import write_sgd
from tft_utils.cli import main
from tft_utils.core.io import DataError, read_jsonl, write_jsonl
from tft_utils.data.pairs_command import traces_to_pairs
from tft_utils.data.traces import build_dataset


def test_the_sgd_test_traces_give_the_pairs_tft_data_writes(tmp_path, capsys):
    write_sgd(tmp_path / "sgd")
    (tmp_path / "ids.txt").write_text("1_00001\n1_00003\n")
    build_dataset(
        tmp_path / "sgd", tmp_path / "data", test_ids=str(tmp_path / "ids.txt"), excluded_ids="none"
    )
    out = tmp_path / "pairs.jsonl"
    assert main(["pairs", str(tmp_path / "data" / "test.jsonl"), "--out", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / "data" / "test_pairs.jsonl").read_bytes()
    printed = json.loads(capsys.readouterr().out)
    assert printed["pairs"] == len(read_jsonl(out)) and sum(printed["answers"].values()) == printed["pairs"]


def test_a_text_reply_is_respond_to_user_and_any_tool_name_is_kept(tmp_path):
    trace = {
        "dialogue_id": 7,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},  # OpenAI text parts, joined
            {"role": "assistant", "content": "Which city?"},
            {"role": "user", "content": "Paris"},
            {
                "role": "assistant",
                "tool_calls": [{"function": {"name": "search_hotels", "arguments": '{"city": "Paris"}'}}],
            },
        ],
    }
    write_jsonl(tmp_path / "t.jsonl", [trace])
    pairs = traces_to_pairs(tmp_path / "t.jsonl")
    assert [(p["dialogue_id"], p["turn"]) for p in pairs] == [("7", 1), ("7", 3)]
    assert [json.loads(p["answer"]) for p in pairs] == [
        {"name": "respond_to_user", "parameters": {"message": "Which city?"}},
        {"name": "search_hotels", "parameters": {"city": "Paris"}},
    ]
    assert json.loads(pairs[0]["question"]) == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([], "no traces (an empty file)"),
        (
            [{"dialogue_id": "a", "messages": [{"role": "user", "content": "x"}]}] * 2,
            ":2: dialogue_id 'a' is also on line 1",
        ),
        (
            [{"dialogue_id": "a", "messages": [{"role": "user", "content": "x"}]}],
            ":1 (dialogue a): no assistant turn",
        ),
        (
            [{"dialogue_id": "a", "messages": [{"role": "assistant", "content": None}]}],
            ":1 (dialogue a): message: assistant message without tool_calls or content",
        ),
        ([{"dialogue_id": "a", "messages": "hi"}], ":1 (dialogue a): 'messages' must be a non-empty list"),
    ],
)
def test_bad_traces_are_named_by_file_and_line(tmp_path, rows, message):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=__import__("re").escape(message)):
        traces_to_pairs(path)
    assert not (tmp_path / "out.jsonl").exists()
