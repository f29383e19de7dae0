"""Every LLM role takes its answer from a reasoning model's final content, never from its reasoning,
and counts a reply with no answer as unparseable: the filter, a committee member, the relabel
teacher, the teacher arm of notebook 06 and the LLM judge (the synthesis teacher and judge: see
test_synth.py). Each role runs through the real client against a scripted loopback server that
answers in the shapes reasoning servers return (see test_backends.py for every shape): the reasoning
in vLLM's separate field, inline `<think>` as GLM and Qwen3 write it, and a reply cut while reasoning.
The reasoning always holds a well-formed decoy answer that differs from the final one."""

from __future__ import annotations

import json

from tests.serve_fixture import ScriptedOpenAIServer
from tests.unit.clean.test_clean import EATERIES, call, restaurant_trace, results, user
from tft_utils.clean.filter import score_traces
from tft_utils.clean.relabel import relabel_traces
from tft_utils.core.io import read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.evaluate.judge.llm import llm_judge_many
from tft_utils.evaluate.predict_endpoint import predict_endpoint
from tft_utils.llm.backends import OpenAIChat

PARAMS = load_params("cpu", "s2", [])
FIND = {"name": "FindRestaurants", "arguments": {"city": "San Jose", "cuisine": "Mexican"}}
DECOY_FIND = {"name": "FindRestaurants", "arguments": {"city": "Oakland", "cuisine": "Thai"}}
RESERVE = {"name": "ReserveRestaurant", "arguments": {"restaurant_name": "Taqueria Eden", "city": "San Jose"}}


def shapes(answer: str, decoy: str) -> list[dict]:
    """Three replies: the answer beside vLLM's `reasoning_content`, the answer after an inline
    `<think>` block, and a reply cut by max_tokens inside the block (no answer)."""
    thought = f"Let me think. A first draft: {decoy} - no, that is wrong."
    usage = {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90}
    return [
        {"text": answer, "message": {"reasoning_content": thought}, "usage": usage},
        {"text": f"<think>\n{thought}\n</think>\n\n{answer}", "usage": usage},
        {"text": f"<think>\n{thought}", "usage": usage, "finish_reason": "length"},
    ]


def client_for(server, tmp_path, name="m") -> OpenAIChat:
    return OpenAIChat(server.base_url, name, cache_dir=tmp_path / name, concurrency=1)  # in script order


def short_trace(did: str, ask: str) -> dict:
    """One assistant turn: a search, with its results."""
    return {
        "dialogue_id": did,
        "service": "Restaurants_1",
        "messages": [user(ask), call(FIND["name"], **FIND["arguments"]), results(*EATERIES)],
    }


TRACES = [short_trace(f"t{i}", f"Mexican food in San Jose please ({i})") for i in range(3)]


def test_filter(tmp_path):
    answer = {"relevance": 2, "coherence": 3, "reason": "final"}
    decoy = {"relevance": 5, "coherence": 5, "reason": "decoy"}
    traces = [restaurant_trace(f"r{i}") for i in range(3)]
    for i, t in enumerate(traces):
        t["messages"][0] = user(f"I'm hungry, find me a restaurant in San Jose ({i})")
    with ScriptedOpenAIServer(shapes(json.dumps(answer), json.dumps(decoy))) as server:
        client = client_for(server, tmp_path)
        rows = score_traces(traces, PARAMS, client)
    assert [(r["relevance"], r["coherence"], r["scorer"]) for r in rows[:2]] == [(2, 3, "m")] * 2
    assert rows[2]["scorer"] == "rules (llm failed)" and "llm: unparseable verdict" in rows[2]["reason"]
    assert rows[2]["relevance"] >= 4  # the rules score stands in, not the decoy's 5/5 from the reasoning
    assert client.ledger.rows()[0]["no_answer"] == 1


def test_committee_member(tmp_path):
    with ScriptedOpenAIServer(shapes(json.dumps(FIND), json.dumps(DECOY_FIND))) as server:
        rows = relabel_traces(
            TRACES, PARAMS, [("llm", client_for(server, tmp_path)), ("result_grounded", None)]
        )
    proposals = [r["proposals"]["llm"] for r in rows]
    assert proposals == [FIND, FIND, None]  # no answer: an abstention


def test_relabel_teacher(tmp_path):
    """Members split (a search vs a booking, the log not voting): each turn goes to the teacher."""
    params = load_params("cpu", "s2", ["relabel.logged_vote=false"])
    with (
        ScriptedOpenAIServer(default={"text": json.dumps(FIND)}) as a,
        ScriptedOpenAIServer(default={"text": json.dumps(RESERVE)}) as b,
        ScriptedOpenAIServer(shapes(json.dumps(FIND), json.dumps(DECOY_FIND))) as t,
    ):
        members = [("a", client_for(a, tmp_path, "a")), ("b", client_for(b, tmp_path, "b"))]
        rows = relabel_traces(TRACES, params, members, teacher=client_for(t, tmp_path, "t"))
        assert len(t.received) == 3
    assert [(r["decision"], r["final"]) for r in rows] == [
        ("teacher", FIND),
        ("teacher", FIND),
        ("masked", None),
    ]


def test_llm_judge(tmp_path):
    answer = {"verdict": "bad", "reason": "wrong city"}
    decoy = {"verdict": "good", "reason": "decoy"}
    prediction = json.dumps(
        {"name": "FindRestaurants", "parameters": {"city": "Oakland", "cuisine": "Mexican"}}
    )
    gold = json.dumps({"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Mexican"}})
    pairs = [(json.dumps(t["messages"][:1]), gold, prediction) for t in TRACES]
    with ScriptedOpenAIServer(shapes(json.dumps(answer), json.dumps(decoy))) as server:
        verdicts = llm_judge_many(client_for(server, tmp_path), pairs, progress=False)
    assert [(v.good, v.reason) for v in verdicts[:2]] == [(False, "wrong city")] * 2
    assert verdicts[2].good is None and verdicts[2].reason.startswith("unparseable verdict")


def test_teacher_arm_predictions(tmp_path):
    answer = '<tool_call>{"name": "FindRestaurants", "arguments": {"city": "San Jose", "cuisine": "Mexican"}}</tool_call>'
    decoy = '<tool_call>{"name": "FindRestaurants", "arguments": {"city": "Oakland", "cuisine": "Thai"}}</tool_call>'
    gold = json.dumps({"name": "FindRestaurants", "parameters": FIND["arguments"]})
    pairs = [
        {
            "dialogue_id": t["dialogue_id"],
            "turn": 1,
            "question": json.dumps(t["messages"][:1]),
            "answer": gold,
        }
        for t in TRACES
    ]
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    with ScriptedOpenAIServer(shapes(answer, decoy)) as server:
        res = predict_endpoint(
            client_for(server, tmp_path), tmp_path / "pairs.jsonl", tmp_path / "p.jsonl", []
        )
    assert res == {"pairs": 3, "errors": 0, "cached": 0}
    assert [r["prediction"] for r in read_jsonl(tmp_path / "p.jsonl")] == [answer, answer, None]
