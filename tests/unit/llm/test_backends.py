"""The `openai` backend against real servers on loopback: `transformers serve` with the local
SmolLM2-135M-Instruct copy (concurrency, cache, garbage replies, a crash mid-stage) and a scripted
http.server (the SDK's retries and timeouts as our client sees them, refused requests, keys, the
reply shapes of reasoning models). Replies are kept to a few tokens: the CPU is small and shared."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time

import pytest

from tests.serve_fixture import CountingProxy, ScriptedOpenAIServer, free_port
from tft_utils.core.params import ParamsError, load_params
from tft_utils.llm import backends
from tft_utils.llm.backends import BackendError, Completion, Ledger, OpenAIChat, cache_key, parse_json_object

TINY = {"temperature": 0.0, "max_tokens": 3}  # a few tokens each: ~0.3 s/token on this CPU


def ask(i: int) -> list[dict]:
    return [{"role": "user", "content": f"Name one fruit. ({i})"}]


def cache_files(folder) -> list:
    return sorted(folder.rglob("*.json")) if folder.exists() else []


# -- against the real served SmolLM2 --------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_requests_then_rerun_is_all_cache(served_smollm2, tmp_path):
    base_url, model = served_smollm2
    requests = [ask(i) for i in range(4)]
    with CountingProxy(base_url) as proxy:
        client = OpenAIChat(proxy.base_url, model, sampling=TINY, cache_dir=tmp_path, concurrency=3)
        first = client.complete_many(requests, stage="t", prompt_version="v1", progress=False)
        assert client.requests_made == 4 == proxy.requests
        # several in flight at once, never more than the bound
        assert 2 <= proxy.max_in_flight <= 3
        assert all(isinstance(c.text, str) and c.text and not c.cached and c.error is None for c in first)
        assert all(c.prompt_tokens > 0 and 0 < c.completion_tokens <= 3 for c in first)
        assert len(cache_files(tmp_path)) == 4

        # a fresh client (as in a new process) with the same cache: zero new requests
        again = OpenAIChat(proxy.base_url, model, sampling=TINY, cache_dir=tmp_path, concurrency=3)
        second = again.complete_many(requests, stage="t", prompt_version="v1", progress=False)
        assert again.requests_made == 0 and proxy.requests == 4
        assert [c.text for c in second] == [c.text for c in first]
        assert all(c.cached for c in second)
        row = again.ledger.table().iloc[0]
        assert (row["calls"], row["cached"], row["requests"]) == (4, 4, 0)


def verdicts(completions: list[Completion]) -> tuple[list[dict], int]:
    """A role's strict parser: a verdict needs "score" and "reason"; the rest is counted."""
    parsed = [parse_json_object(c.text) for c in completions]
    good = [v for v in parsed if v and {"score", "reason"} <= set(v)]
    return good, len(parsed) - len(good)


@pytest.mark.slow
def test_garbage_replies_come_back_as_is_and_are_counted_unparseable(served_smollm2, tmp_path):
    base_url, model = served_smollm2
    # a 135M model asked for a JSON verdict in 3 tokens cannot write one: whatever it writes is
    # returned untouched, and the parser counts it
    prompt = 'Rate this reply 1-5. Answer only JSON {"score": n, "reason": "..."}. Reply: '
    requests = [[{"role": "user", "content": prompt + w}] for w in ("hello", "table for 2")]
    with CountingProxy(base_url) as proxy:
        client = OpenAIChat(
            proxy.base_url, model, sampling={"max_tokens": 3}, cache_dir=tmp_path, concurrency=2
        )
        out = client.complete_many(requests, stage="judge", prompt_version="rubric-v1", progress=False)
        # byte for byte what the server sent; no reasoning in it, so the content is the answer
        assert sorted(c.content for c in out) == sorted(proxy.reply_texts())
    assert all(c.text == c.content and c.reasoning is None and c.reasoning_tokens == 0 for c in out)
    assert all(c.error is None and c.completion_tokens <= 3 for c in out)
    assert verdicts(out) == ([], 2)


def test_garbage_from_a_scripted_server_is_kept_and_cached(tmp_path):
    texts = ['{"score": 4, "reason": "grounded"}', "Sure! Score: four.", "", None, '{"score": 2']
    with ScriptedOpenAIServer([{"text": t} for t in texts]) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, concurrency=1)
        out = client.complete_many(
            [ask(i) for i in range(5)], stage="judge", prompt_version="v1", progress=False
        )
    assert [c.text for c in out] == texts == [c.content for c in out] and all(c.error is None for c in out)
    assert verdicts(out) == ([{"score": 4, "reason": "grounded"}], 4)
    rerun = OpenAIChat(server.base_url, "m", cache_dir=tmp_path)
    assert [c.text for c in rerun.complete_many([ask(i) for i in range(5)], "judge", "v1", False)] == texts
    assert rerun.requests_made == 0


# -- reasoning models: the reply shapes their servers return ------------------------------------
ANSWER = '{"verdict": "bad", "reason": "wrong city"}'
THOUGHT = 'The user asked for San Jose. A first guess: {"verdict": "good", "reason": "looks fine"}. No.'
VLLM_USAGE = {
    "prompt_tokens": 120,
    "total_tokens": 200,
    "completion_tokens": 80,
    "prompt_tokens_details": None,
}
REASONING_REPLIES = {
    # gpt-oss / DeepSeek-R1 on vLLM <= 0.10 with --reasoning-parser: the reasoning in its own field
    "vllm reasoning_content": {
        "text": ANSWER,
        "message": {"reasoning_content": THOUGHT, "tool_calls": []},
        "usage": VLLM_USAGE,
    },
    # vLLM >= 0.11 and Ollama name the field `reasoning`
    "reasoning field": {
        "text": ANSWER,
        "message": {"reasoning": THOUGHT, "tool_calls": []},
        "usage": VLLM_USAGE,
    },
    # a gateway (OpenRouter-style): `reasoning` + reasoning_details, the count in completion_tokens_details
    "gateway reasoning + token count": {
        "text": ANSWER,
        "message": {
            "refusal": None,
            "reasoning": THOUGHT,
            "reasoning_details": [
                {"type": "reasoning.text", "text": THOUGHT, "format": "unknown", "index": 0}
            ],
        },
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "total_tokens": 200,
            "completion_tokens_details": {"reasoning_tokens": 64},
        },
    },
    # GLM / Qwen3 without a reasoning parser: the reasoning inline, before the answer
    "inline think": {"text": f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}", "usage": VLLM_USAGE},
    # Qwen3 with enable_thinking=False: an empty block
    "empty think": {"text": f"<think>\n\n</think>\n\n{ANSWER}", "usage": VLLM_USAGE},
    # the chat template opened the block in the prompt (DeepSeek-R1, QwQ): only the closing tag
    "think opened by the template": {"text": f"{THOUGHT}\n</think>\n\n{ANSWER}", "usage": VLLM_USAGE},
    # cut by max_tokens while reasoning: no answer
    "unclosed think": {"text": f"<think>\n{THOUGHT}", "usage": VLLM_USAGE, "finish_reason": "length"},
    "reasoning_content, content null": {
        "text": None,
        "message": {"reasoning_content": THOUGHT},
        "usage": VLLM_USAGE,
        "finish_reason": "length",
    },
    "reasoning, content empty": {"text": "", "message": {"reasoning": THOUGHT}, "usage": VLLM_USAGE},
}
# (answer, reasoning, reasoning tokens, estimated); the estimate shares the 80 completion tokens by length
SHARE = round(80 * len(THOUGHT) / (len(THOUGHT) + len(ANSWER)))
EXPECTED = {
    "vllm reasoning_content": (ANSWER, THOUGHT, SHARE, True),
    "reasoning field": (ANSWER, THOUGHT, SHARE, True),
    "gateway reasoning + token count": (ANSWER, THOUGHT, 64, False),
    "inline think": (ANSWER, THOUGHT, SHARE, True),
    "empty think": (ANSWER, None, 0, False),
    "think opened by the template": (ANSWER, THOUGHT, SHARE, True),
    "unclosed think": (None, THOUGHT, 80, True),
    "reasoning_content, content null": (None, THOUGHT, 80, True),
    "reasoning, content empty": ("", THOUGHT, 80, True),
}


def test_reasoning_replies_answer_from_the_final_content_through_the_client(tmp_path):
    names = list(REASONING_REPLIES)
    with ScriptedOpenAIServer([REASONING_REPLIES[n] for n in names]) as server:
        client = OpenAIChat(server.base_url, "gpt-oss", cache_dir=tmp_path, concurrency=1)
        out = client.complete_many([ask(i) for i in range(len(names))], "judge", "v1", progress=False)
    for name, c in zip(names, out, strict=True):
        assert (c.text, c.reasoning, c.reasoning_tokens, c.reasoning_estimated) == EXPECTED[name], name
        assert c.content == REASONING_REPLIES[name]["text"] and c.error is None  # kept as sent
        assert c.no_answer == (EXPECTED[name][0] in (None, "")), name
    # a role's strict parser finds the final answer and never the verdict inside the reasoning
    parsed = [parse_json_object(c.text) for c in out]
    assert parsed == [json.loads(ANSWER)] * 6 + [None] * 3
    row = client.ledger.rows()[0]
    assert (row["calls"], row["no_answer"], row["errors"]) == (9, 3, 0)
    assert row["reasoning_tokens"] == sum(EXPECTED[n][2] for n in names)
    assert row["reasoning_estimated"] == sum(EXPECTED[n][3] for n in names) == 7
    assert row["completion_tokens"] == 9 * 80  # reasoning tokens are part of them, cost unchanged

    # the cache keeps the content as sent and the reasoning field: a rerun gives the same completions
    rerun = OpenAIChat(server.base_url, "gpt-oss", cache_dir=tmp_path)
    again = rerun.complete_many([ask(i) for i in range(len(names))], "judge", "v1", progress=False)
    assert rerun.requests_made == 0 and all(c.cached for c in again)
    assert [dataclasses.replace(c, cached=False) for c in again] == out


@pytest.mark.slow
def test_server_killed_mid_stage_resumes_without_repeating(served_smollm2, tmp_path):
    base_url, model = served_smollm2
    requests = [ask(100 + i) for i in range(4)]

    def client():
        return OpenAIChat(base_url, model, sampling=TINY, cache_dir=tmp_path, concurrency=1, max_retries=2)

    first = client()
    errors: list[BaseException] = []

    def stage():
        try:
            first.complete_many(requests, stage="relabel", prompt_version="v1", progress=False)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    worker = threading.Thread(target=stage)
    worker.start()
    deadline = time.monotonic() + 120
    while len(cache_files(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    served_smollm2.kill()  # crash with a request in flight
    worker.join(60)
    try:
        assert not worker.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], BackendError)
        message = str(errors[0])
        assert base_url in message and model in message and "relabel" in message
        done = len(cache_files(tmp_path))
        assert 2 <= done < len(requests), message
    finally:
        served_smollm2.start()  # same port: the stage's base_url is still right

    resumed = client()
    out = resumed.complete_many(requests, stage="relabel", prompt_version="v1", progress=False)
    # only the unfinished calls are sent, counted by the client and by the restarted server's log
    assert resumed.requests_made == len(requests) - done == served_smollm2.chat_requests()
    assert sum(c.cached for c in out) == done
    assert all(isinstance(c.text, str) for c in out)
    assert len(cache_files(tmp_path)) == len(requests)


# -- against a scripted loopback http.server ------------------------------------------------------
def test_retries_429_and_5xx_with_backoff_and_retry_after_then_succeeds(tmp_path):
    script = [
        {"status": 500},  # no Retry-After: the SDK's backoff, 0.5 s less up to 25 % jitter
        {"status": 429, "headers": {"Retry-After": "0.3"}},  # the server's wait is honoured
        {"status": 503, "headers": {"Retry-After": "0.3"}},
        {"text": "fine"},
    ]
    with ScriptedOpenAIServer(script) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, max_retries=4)
        c = client.complete(ask(0), stage="s", prompt_version="v1")
    assert c == Completion(
        text="fine", cached=False, error=None, prompt_tokens=10, completion_tokens=5, content="fine"
    )
    assert client.requests_made == 4 == len(server.received)
    assert client.ledger.rows()[0]["requests"] == 4 and client.ledger.rows()[0]["calls"] == 1
    gaps = [b["at"] - a["at"] for a, b in zip(server.received, server.received[1:], strict=False)]
    assert 0.37 <= gaps[0] < 1.0  # had the SDK ignored Retry-After, the next two would be >= 0.75 s
    assert all(0.3 <= g < 0.7 for g in gaps[1:]), gaps


def test_retries_stop_after_max_retries_naming_the_last_status(tmp_path):
    with ScriptedOpenAIServer(default={"status": 503, "headers": {"Retry-After": "0.05"}}) as server:
        client = OpenAIChat(server.base_url, "some-model", cache_dir=tmp_path, max_retries=2)
        with pytest.raises(BackendError) as info:
            client.complete(ask(0), stage="judge", prompt_version="v1")
    message = str(info.value)
    assert "3 attempt(s): HTTP 503" in message and server.base_url in message and "some-model" in message
    assert client.requests_made == 3 == len(server.received) and cache_files(tmp_path) == []


def test_concurrency_bound_holds_across_batches_sharing_a_client(tmp_path):
    with ScriptedOpenAIServer(default={"delay": 0.2, "text": "ok"}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, concurrency=2)
        batches = [[ask(10 * b + i) for i in range(4)] for b in range(2)]
        workers = [
            threading.Thread(target=client.complete_many, args=(reqs, f"stage{b}", "v1", False))
            for b, reqs in enumerate(batches)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
    assert client.requests_made == 8 == len(server.received)
    assert server.max_in_flight == 2  # two batches of 2 workers each, one bound of 2 for the client
    assert {r["stage"]: r["requests"] for r in client.ledger.rows()} == {"stage0": 4, "stage1": 4}


def test_timeout_is_retried(tmp_path):
    with ScriptedOpenAIServer([{"delay": 1.5, "text": "late"}], default={"text": "on time"}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, timeout=0.5)
        c = client.complete(ask(0), stage="s", prompt_version="v1")
    assert c.text == "on time" and client.requests_made == 2


def test_server_down_gives_clear_error_naming_endpoint_and_model(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    client = OpenAIChat(url, "some-model", cache_dir=tmp_path, max_retries=2)
    with pytest.raises(BackendError) as info:
        client.complete_many([ask(0), ask(1)], stage="filter", prompt_version="v1", progress=False)
    message = str(info.value)
    assert url in message and "some-model" in message and "filter" in message and "3 attempt" in message
    assert "0 of 2 calls are finished" in message and "ConnectError" in message


def test_refused_request_is_a_per_call_error_not_cached(tmp_path):
    script = [{"status": 400}, {"raw": b"<html>gateway</html>"}]
    with ScriptedOpenAIServer(script, default={"text": '{"score": 4}'}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path)
        a = client.complete(ask(0), stage="s", prompt_version="v1")
        b = client.complete(ask(0), stage="s", prompt_version="v1")
        c = client.complete(ask(0), stage="s", prompt_version="v1")
        d = client.complete(ask(0), stage="s", prompt_version="v1")
    assert a.text is None and "HTTP 400" in a.error
    assert b.text is None and "malformed response" in b.error
    assert c.text == '{"score": 4}' and not c.cached and d.cached
    assert client.requests_made == 3 and len(cache_files(tmp_path)) == 1
    assert client.ledger.rows()[0]["errors"] == 2


def test_auth_errors_stop_at_once(tmp_path):
    with ScriptedOpenAIServer([{"status": 401}]) as server:
        client = OpenAIChat(server.base_url, "some-model", cache_dir=tmp_path, concurrency=1, max_retries=4)
        with pytest.raises(BackendError, match="HTTP 401") as info:
            client.complete_many([ask(0), ask(1)], stage="s", prompt_version="v1", progress=False)
    assert server.base_url in str(info.value) and "some-model" in str(info.value)
    assert client.requests_made == 1 == len(server.received)


def test_key_comes_from_the_named_env_var_and_is_never_written(tmp_path, monkeypatch, caplog):
    secret = "sk-test-1234567890"
    monkeypatch.setenv("TFT_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)  # the SDK's own request and retry logs, at their most verbose
    with ScriptedOpenAIServer([{"status": 500}]) as server:
        client = OpenAIChat(server.base_url, "m", api_key_env="TFT_TEST_KEY", cache_dir=tmp_path / "c")
        client.complete(ask(0), stage="s", prompt_version="v1")  # a 500, then the retry answers
        client.ledger.save(tmp_path / "ledger.json")
        assert [r["authorization"] for r in server.received] == [f"Bearer {secret}"] * 2
        local = OpenAIChat(server.base_url, "m", cache_dir=tmp_path / "c")  # no key configured: dummy
        local.complete(ask(1), stage="s", prompt_version="v1")
        assert server.received[2]["authorization"] == f"Bearer {backends.DUMMY_KEY}"
    written = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert secret not in written and secret not in repr(client) and secret not in str(vars(client))
    assert "Retrying request" in caplog.text and secret not in caplog.text

    # without the key: a clear error naming the variable, but a fully cached rerun still works
    monkeypatch.delenv("TFT_TEST_KEY")
    offline = OpenAIChat("${TFT_UNSET_URL}", "m", api_key_env="TFT_TEST_KEY", cache_dir=tmp_path / "c")
    assert offline.complete(ask(0), stage="s", prompt_version="v1").cached
    url_set = OpenAIChat("http://127.0.0.1:9/v1", "m", api_key_env="TFT_TEST_KEY", cache_dir=tmp_path / "c")
    with pytest.raises(BackendError, match="TFT_TEST_KEY"):
        url_set.complete(ask(2), stage="s", prompt_version="v1")
    with pytest.raises(BackendError, match="base_url"):
        offline.complete(ask(2), stage="s", prompt_version="v1")


def test_identical_requests_in_a_batch_are_sent_once_and_order_is_kept(tmp_path):
    with ScriptedOpenAIServer(default={"text": "same"}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, concurrency=4)
        out = client.complete_many([ask(0), ask(1), ask(0)], stage="s", prompt_version="v1", progress=False)
        sent = [r["body"]["messages"][0]["content"] for r in server.received]
    assert sorted(sent) == sorted([ask(0)[0]["content"], ask(1)[0]["content"]])
    assert [c.text for c in out] == ["same"] * 3 and client.requests_made == 2
    assert [c.cached for c in out] == [False, False, True]  # the repeat cost no request


def test_sampling_is_sent_and_part_of_the_key(tmp_path):
    with ScriptedOpenAIServer() as server:
        client = OpenAIChat(server.base_url, "m", sampling={"temperature": 0.7, "max_tokens": 9, "seed": 3})
        client.complete(ask(0), stage="s", prompt_version="v1")
        body = server.received[0]["body"]
    assert (body["model"], body["temperature"], body["max_tokens"], body["seed"]) == ("m", 0.7, 9, 3)
    k = cache_key("m", {"a": 1, "b": 2}, "v1", ask(0))
    assert k == cache_key("m", {"b": 2, "a": 1}, "v1", ask(0))  # key order does not matter
    assert (
        len(
            {
                k,
                cache_key("m2", {"a": 1, "b": 2}, "v1", ask(0)),
                cache_key("m", {"a": 2, "b": 2}, "v1", ask(0)),
            }
        )
        == 3
    )
    assert (
        len(
            {
                k,
                cache_key("m", {"a": 1, "b": 2}, "v2", ask(0)),
                cache_key("m", {"a": 1, "b": 2}, "v1", ask(1)),
            }
        )
        == 3
    )
    with pytest.raises(ParamsError, match="stream"):
        OpenAIChat("http://x/v1", "m", sampling={"stream": True})


def test_ledger_costs_tokens_per_stage_and_saves(tmp_path):
    ledger = Ledger()
    with ScriptedOpenAIServer() as server:
        client = OpenAIChat(
            server.base_url,
            "m",
            cache_dir=tmp_path / "c",
            ledger=ledger,
            price_in_per_mtok=2.0,
            price_out_per_mtok=10.0,
        )
        client.complete_many([ask(0), ask(1)], stage="filter", prompt_version="v1", progress=False)
        client.complete_many([ask(0)], stage="judge", prompt_version="v1", progress=False)
    table = ledger.table().set_index("stage")
    # 2 calls x (10 prompt tokens x $2 + 5 completion tokens x $10) per million = $0.00014
    assert table.loc["filter", "cost_usd"] == pytest.approx(2 * (10 * 2 + 5 * 10) / 1e6)
    assert table.loc["filter", "spent_usd"] == pytest.approx(table.loc["filter", "cost_usd"])
    assert table.loc["judge", "cached"] == 1 and table.loc["judge", "spent_usd"] == 0
    assert table.loc["filter", "prompt_tokens"] == 20 and table.loc["filter", "requests"] == 2
    ledger.save(tmp_path / "ledger.json")
    ledger.save(tmp_path / "ledger.csv")
    assert [r["stage"] for r in json.loads((tmp_path / "ledger.json").read_text())] == ["filter", "judge"]
    assert (tmp_path / "ledger.csv").read_text().splitlines()[0].startswith("stage,model,calls,cached")


def test_parse_json_object():
    assert parse_json_object('```json\n{"score": 4, "reason": "ok"}\n```') == {"score": 4, "reason": "ok"}
    assert parse_json_object('Sure! {"a": {"b": 1}} and {"c": 2}') == {"a": {"b": 1}}
    assert parse_json_object('{"score": 4') is None
    assert parse_json_object("[1, 2]") is None and parse_json_object(None) is None


# -- params -> clients ----------------------------------------------------------------------------
def test_make_client_from_params(tmp_path):
    cpu = load_params("cpu")
    assert all(backends.make_client(cpu, r) is None for r in ("judge", "teacher", "filter"))
    assert [n for n, c in backends.committee_clients(cpu) if c is None] == [
        "result_grounded",
        "state_tracker",
    ]

    paper = load_params("paper", overrides=[f"backends.cache_dir={tmp_path}"])
    judge, teacher = backends.make_client(paper, "judge"), backends.make_client(paper, "teacher")
    assert (judge.model, teacher.model) == ("openai/gpt-oss-120b", "zai-org/GLM-5")
    assert (
        judge.api_key_env == "TFT_API_KEY" and judge.cache_dir == tmp_path and judge.ledger is backends.LEDGER
    )
    assert judge.sampling["max_tokens"] == 4096 and judge.concurrency == 8 and judge.max_retries == 4
    assert [n for n, _ in backends.committee_clients(paper)] == ["gpt-oss-120b", "glm-5"]

    with pytest.raises(ParamsError, match="'roles.judge' is 'nope'"):  # checked when params resolve
        backends.make_client(load_params("cpu", overrides=["roles.judge=nope"]), "judge")
    unchecked = {**cpu, "roles": {**cpu["roles"], "judge": "nope"}}
    with pytest.raises(ParamsError, match="no endpoint 'nope'"):
        backends.make_client(unchecked, "judge")
    with pytest.raises(ParamsError, match="committee_clients"):
        backends.make_client(cpu, "committee")
    bad = load_params(
        "cpu", overrides=["roles.judge=x", "backends.endpoints={x: {base_url: u, model: m, tmperature: 1}}"]
    )
    with pytest.raises(ParamsError, match="tmperature"):
        backends.make_client(bad, "judge")
    local = load_params(
        "cpu",
        overrides=[
            "roles.teacher=local",
            "backends.endpoints={local: {base_url: 'http://127.0.0.1:8000/v1', model: m, sampling: {temperature: 0.8}}}",
        ],
    )
    teacher = backends.make_client(local, "teacher")
    assert teacher.sampling == {"temperature": 0.8, "max_tokens": 1024}  # merged over endpoint_defaults
