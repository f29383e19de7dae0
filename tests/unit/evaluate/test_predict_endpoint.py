"""The teacher arm of notebook 06: test turns asked of a real OpenAI-compatible server on loopback
(`transformers serve` with the local SmolLM2 copy), predictions written and scorable, rerun from cache."""

import json

from tests.unit.train.test_render import HAND
from tft_utils.core.io import read_jsonl, write_jsonl
from tft_utils.evaluate.predict_endpoint import request
from tft_utils.evaluate.score import score_file
from tft_utils.llm.backends import OpenAIChat
from tft_utils.train.render import load_tools

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "respond_to_user",
            "description": "Say something to the user",
            "parameters": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            },
        },
    }
]


def test_request_writes_calls_as_text_and_results_as_user_messages():
    msgs = request(HAND["messages"], TOOLS)
    assert msgs[0]["role"] == "system" and "respond_to_user" in msgs[0]["content"]
    assert "<tool_call>" in msgs[0]["content"]  # the answer format is stated
    # the trace's own system message is replaced by ours; tool results travel as user messages
    assert [m["role"] for m in msgs[1:]] == [
        "assistant" if m["role"] == "assistant" else "user" for m in HAND["messages"] if m["role"] != "system"
    ]
    assert "A SYSTEM TEXT THE TRACE CARRIES" not in json.dumps(msgs)
    calls = [m["content"] for m in msgs[1:] if m["role"] == "assistant"]
    assert calls and all(c.startswith("<tool_call>") and c.endswith("</tool_call>") for c in calls)
    assert all(isinstance(m["content"], str) for m in msgs)


def test_teacher_predictions_from_a_served_model_then_rerun_from_cache(served_smollm2, dataset_dir, tmp_path):
    from tft_utils.evaluate.predict_endpoint import predict_endpoint

    base_url, model = served_smollm2
    pairs = read_jsonl(dataset_dir / "test_pairs.jsonl")[:2]  # two requests: the CPU is small and shared
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    tools = load_tools(dataset_dir / "tools.json")
    sampling = {"temperature": 0.0, "max_tokens": 16}
    before = served_smollm2.chat_requests()
    client = OpenAIChat(base_url, model, sampling=sampling, cache_dir=tmp_path / "cache", timeout=300)
    res = predict_endpoint(
        client, tmp_path / "pairs.jsonl", tmp_path / "teacher.jsonl", tools, progress=False
    )
    assert res == {"pairs": 2, "errors": 0, "cached": 0}
    assert served_smollm2.chat_requests() - before == 2
    rows = read_jsonl(tmp_path / "teacher.jsonl")
    assert [(r["dialogue_id"], r["turn"]) for r in rows] == [(p["dialogue_id"], p["turn"]) for p in pairs]
    assert all(isinstance(r["prediction"], str) for r in rows)
    scored, _ = score_file(tmp_path / "teacher.jsonl", "rubric", tmp_path / "scored.jsonl", progress=False)
    assert all(0.0 <= r["staged_tool_call"] <= 1.0 for r in scored)

    rerun = OpenAIChat(base_url, model, sampling=sampling, cache_dir=tmp_path / "cache")
    again = predict_endpoint(rerun, tmp_path / "pairs.jsonl", tmp_path / "again.jsonl", tools, progress=False)
    assert again["cached"] == 2 and rerun.requests_made == 0
    assert served_smollm2.chat_requests() - before == 2
    assert read_jsonl(tmp_path / "again.jsonl") == rows
