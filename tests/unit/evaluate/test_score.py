"""`tft score` end to end: scored rows, summary, clear errors, reference baselines, and the LLM judge
against real OpenAI-compatible servers on loopback (`transformers serve` with the local SmolLM2, and
a scripted server for exact replies)."""

import json

import pytest

from tests.serve_fixture import ScriptedOpenAIServer
from tft_utils import cli
from tft_utils.core.io import DataError, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.evaluate.score import (
    BASELINES,
    SCORES,
    baseline_prediction,
    score_baselines,
    score_file,
    score_rows,
    service_calls,
)
from tft_utils.llm.backends import OpenAIChat

PARAMS = load_params(overrides=["evaluate.bootstrap_samples=200"])


@pytest.fixture(scope="module")
def pairs(dataset_dir):
    return [json.loads(line) for line in (dataset_dir / "test_pairs.jsonl").open()]


def predictions(pairs, n=40):
    """Gold, a wrong city, a fixed question and garbage, in turn, on the first n pairs."""
    out = []
    for i, p in enumerate(pairs[:n]):
        kind = i % 4
        pred = p["answer"]
        if kind == 1:
            pred = pred.replace("San", "Santa")
        elif kind == 2:
            pred = json.dumps({"name": "respond_to_user", "parameters": {"message": "What city?"}})
        elif kind == 3:
            pred = "sorry I cannot"
        out.append({**p, "prediction": pred, "model": "m1"})
    return out


def test_score_file_adds_every_score_keeps_fields_and_writes_summary(pairs, tmp_path):
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, predictions(pairs))
    scored, summary = score_file(pred, "rubric", tmp_path / "scored.jsonl", PARAMS, progress=False)
    assert len(scored) == 40 and all(r["model"] == "m1" for r in scored)
    for r in scored:
        assert set(SCORES) | {"judge_verdict", "judge_reason", "error_type"} <= set(r)
        assert r["llm_as_a_judge"] in (0.0, 1.0) and r["judge_reason"]
    garbage = [r for r in scored if r["prediction"] == "sorry I cannot"]
    assert all(r["error_type"] == "turn:unparseable" and r["staged_tool_call"] == 0.0 for r in garbage)
    written = [json.loads(line) for line in (tmp_path / "scored.jsonl").open()]
    assert written == scored
    meta = json.loads((tmp_path / "scored.summary.json").read_text())
    assert meta["judge"] == "rubric" and "provenance" in meta and meta["pairs"] == 40
    m = summary["metrics"]["llm_as_a_judge"]
    assert m["ci_low"] <= m["mean"] <= m["ci_high"]
    assert summary["judge_verdicts"]["unparseable"] == 0
    assert sum(sum(v.values()) for v in summary["confusion"].values()) == 40


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "bad.jsonl:2: not valid JSON"),
        (
            '{"question": "[]", "answer": "{\\"name\\": \\"x\\", \\"parameters\\": {}}"}',
            "bad.jsonl:2: missing field 'prediction'",
        ),
        ('{"question": "[]", "answer": "nope", "prediction": ""}', "bad.jsonl:2: field 'answer'"),
        (
            '{"question": "{}", "answer": "{\\"name\\": \\"x\\"}", "prediction": ""}',
            "bad.jsonl:2: field 'question'",
        ),
        (
            '{"question": "[]", "answer": "{\\"name\\": \\"x\\"}", "prediction": 5}',
            "bad.jsonl:2: field 'prediction'",
        ),
    ],
)
def test_malformed_rows_fail_naming_the_line(tmp_path, line, message):
    good = {"question": "[]", "answer": '{"name": "respond_to_user", "parameters": {}}', "prediction": None}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(DataError, match=message):
        score_file(path, "rubric", None, PARAMS)


def test_cli_prints_summary_and_reports_bad_input(pairs, tmp_path, capsys):
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, predictions(pairs, 8))
    out = tmp_path / "scored.jsonl"
    assert (
        cli.main(
            [
                "score",
                str(pred),
                "--judge",
                "rubric",
                "--out",
                str(out),
                "-p",
                "evaluate.bootstrap_samples=50",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "8 pairs from" in text and "llm_as_a_judge" in text and "confusion" in text
    assert out.exists()
    (tmp_path / "bad.jsonl").write_text('{"question": "[]"}\n')
    assert cli.main(["score", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1: missing field 'answer'" in capsys.readouterr().err


def test_reference_baselines(dataset_dir):
    table = score_baselines(dataset_dir / "test_pairs.jsonl", PARAMS)
    assert list(table.index) == list(BASELINES)
    assert (table.loc["gold"] == 1.0).all()  # the gold answers score 1.0 on every metric
    for floor in ("fixed_question", "repeat_previous"):
        assert table.loc[floor, "binary_tool_call"] < 0.05
        assert table.loc[floor, "llm_as_a_judge"] < 0.1
        assert 0.2 < table.loc[floor, "staged_tool_call"] < 0.75


def test_repeat_previous_uses_the_last_assistant_call():
    q = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "respond_to_user", "arguments": '{"message": "Yes?"}'}}],
        },
        {"role": "user", "content": "Italian"},
    ]
    row = {"question": json.dumps(q), "answer": "{}"}
    assert json.loads(baseline_prediction(row, "repeat_previous", "")) == {
        "name": "respond_to_user",
        "parameters": {"message": "Yes?"},
    }
    assert baseline_prediction({"question": "[]", "answer": "{}"}, "repeat_previous", "") == ""


def _llm_rows(pairs, n=2):
    first = sorted(pairs, key=lambda p: len(p["question"]))[:n]  # the shortest prompts
    rows = [{**p, "prediction": p["answer"]} for p in first]
    rows.append({**first[0], "prediction": "not a call"})  # bad without asking the judge
    return rows


def test_llm_judge_counts_unparseable_and_can_fall_back_to_rubric(pairs, tmp_path):
    rows = _llm_rows(pairs)
    script = [{"text": '{"verdict": "bad", "reason": "wrong"}'}, {"text": "I think it is fine"}]
    with ScriptedOpenAIServer(script) as server:  # answers in arrival order: one call at a time
        client = OpenAIChat(
            server.base_url, "judge-model", sampling={"temperature": 0.0}, cache_dir=tmp_path, concurrency=1
        )
        scored = score_rows(rows, "llm", PARAMS, client=client)
        assert len(server.received) == 2 and server.received[0]["body"]["temperature"] == 0.0
    assert [r["judge_verdict"] for r in scored] == ["bad", "unparseable", "bad"]
    assert [r["llm_as_a_judge"] for r in scored] == [0.0, 0.0, 0.0]
    assert [r["rubric_as_a_judge"] for r in scored] == [1.0, 1.0, 0.0]
    fallback = load_params(overrides=["evaluate.judge_unparseable=rubric", "evaluate.bootstrap_samples=50"])
    again = OpenAIChat(server.base_url, "judge-model", sampling={"temperature": 0.0}, cache_dir=tmp_path)
    scored = score_rows(rows, "llm", fallback, client=again)  # all from the cache: the server is down
    assert again.requests_made == 0
    assert [r["llm_as_a_judge"] for r in scored] == [0.0, 1.0, 0.0]


@pytest.mark.slow
def test_llm_judge_against_served_smollm2_then_rerun_from_cache(served_smollm2, pairs, tmp_path):
    base_url, model = served_smollm2
    rows = _llm_rows(pairs, n=1)  # one request: the CPU is small and shared
    sampling = {"temperature": 0.0, "max_tokens": 12}  # a verdict's first tokens
    before = served_smollm2.chat_requests()
    client = OpenAIChat(base_url, model, sampling=sampling, cache_dir=tmp_path, timeout=300)
    first = score_rows(rows, "llm", PARAMS, client=client)
    assert client.requests_made == 1 and served_smollm2.chat_requests() - before == 1
    assert {r["judge_verdict"] for r in first} <= {"good", "bad", "unparseable"}
    from tft_utils.evaluate.score import summarize

    counts = summarize(first, PARAMS)["judge_verdicts"]
    assert sum(counts.values()) == 2 and counts["unparseable"] == sum(
        r["judge_verdict"] == "unparseable" for r in first
    )
    rerun = OpenAIChat(base_url, model, sampling=sampling, cache_dir=tmp_path)
    second = score_rows(rows, "llm", PARAMS, client=rerun)
    assert rerun.requests_made == 0 and served_smollm2.chat_requests() - before == 1
    assert second == first


def test_service_calls_counts_the_service_call_pairs_by_kind(pairs, tmp_path):
    """Gold on every pair but: a service call answered with a wrong city (right function, not exact),
    one answered with a question (wrong function), one with the other service call, and a reply pair
    answered with a search (a reply turned into a call)."""
    from tft_utils.domain.calls import parse_tool_call
    from tft_utils.domain.tools import FIND, RESERVE, SERVICE_TOOLS

    rows = [{**p, "prediction": p["answer"]} for p in pairs]
    calls = [i for i, p in enumerate(pairs) if parse_tool_call(p["answer"]).name in SERVICE_TOOLS]
    reply = next(i for i, p in enumerate(pairs) if parse_tool_call(p["answer"]).name not in SERVICE_TOOLS)
    find = next(i for i in calls if parse_tool_call(pairs[i]["answer"]).name == FIND)
    wrong_city, question, other = [i for i in calls if i != find][:2] + [find]
    gold = json.loads(rows[wrong_city]["answer"])
    rows[wrong_city]["prediction"] = json.dumps(
        {**gold, "parameters": {**gold["parameters"], "city": "Nowhere"}}
    )
    rows[question]["prediction"] = json.dumps({"name": "respond_to_user", "parameters": {"message": "When?"}})
    rows[other]["prediction"] = json.dumps({"name": RESERVE, "parameters": {"restaurant_name": "X"}})
    rows[reply]["prediction"] = json.dumps({"name": FIND, "parameters": {"city": "X", "cuisine": "Thai"}})
    write_jsonl(tmp_path / "pred.jsonl", rows)
    scored, _ = score_file(tmp_path / "pred.jsonl", "rubric", None, PARAMS, progress=False)
    counts = service_calls(scored)
    n = len(calls)
    assert n > 3 and counts["calls"] == n and counts["replies"] == len(pairs) - n
    assert counts["right_function"] == n - 2  # the question and the other service's call
    assert counts["exact"] == n - 3 and counts["judged_good"] == n - 3
    assert counts["replies_called"] == 1


def test_an_empty_predictions_file_is_named_not_a_key_error(tmp_path, capsys):
    path = tmp_path / "pred.jsonl"
    path.write_text("\n \n")
    assert cli.main(["score", str(path), "--judge", "rubric"]) == 2
    assert capsys.readouterr().err == f"tft score: error: {path}: no rows to score (an empty file)\n"
