"""The `openai` backend against real servers on loopback: `transformers serve` with the local
SmolLM2-135M-Instruct copy (concurrency, cache, garbage replies, a crash mid-stage) and a scripted
http.server (retries, timeouts, refused requests, keys). Replies are kept to a few tokens: the
CPU is small and shared."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.serve_fixture import CountingProxy, ScriptedOpenAIServer, free_port
from tft_utils import backends
from tft_utils.backends import BackendError, Completion, Ledger, OpenAIChat, cache_key, parse_json_object
from tft_utils.params import ParamsError, load_params

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
        assert sorted(c.text for c in out) == sorted(
            proxy.reply_texts()
        )  # byte for byte what the server sent
    assert all(c.error is None and c.completion_tokens <= 3 for c in out)
    assert verdicts(out) == ([], 2)


def test_garbage_from_a_scripted_server_is_kept_and_cached(tmp_path):
    texts = ['{"score": 4, "reason": "grounded"}', "Sure! Score: four.", "", None, '{"score": 2']
    with ScriptedOpenAIServer([{"text": t} for t in texts]) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, concurrency=1)
        out = client.complete_many(
            [ask(i) for i in range(5)], stage="judge", prompt_version="v1", progress=False
        )
    assert [c.text for c in out] == texts and all(c.error is None for c in out)
    assert verdicts(out) == ([{"score": 4, "reason": "grounded"}], 4)
    rerun = OpenAIChat(server.base_url, "m", cache_dir=tmp_path)
    assert [c.text for c in rerun.complete_many([ask(i) for i in range(5)], "judge", "v1", False)] == texts
    assert rerun.requests_made == 0


@pytest.mark.slow
def test_server_killed_mid_stage_resumes_without_repeating(served_smollm2, tmp_path):
    base_url, model = served_smollm2
    requests = [ask(100 + i) for i in range(4)]

    def client():
        return OpenAIChat(
            base_url, model, sampling=TINY, cache_dir=tmp_path, concurrency=1, max_retries=2, backoff_s=0.2
        )

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
def test_retries_429_and_5xx_with_backoff_then_succeeds(tmp_path):
    script = [
        {"status": 429, "headers": {"Retry-After": "0"}},
        {"status": 503},
        {"status": 500},
        {"text": "fine"},
    ]
    with ScriptedOpenAIServer(script) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, max_retries=4, backoff_s=0.1)
        t0 = time.monotonic()
        c = client.complete(ask(0), stage="s", prompt_version="v1")
        waited = time.monotonic() - t0
    assert c == Completion(text="fine", cached=False, error=None, prompt_tokens=10, completion_tokens=5)
    assert client.requests_made == 4 == len(server.received)
    # Retry-After: 0 for the 429, then 0.1 * 2**1 + 0.1 * 2**2 = 0.6 s of backoff
    assert waited >= 0.6


def test_timeout_is_retried(tmp_path):
    with ScriptedOpenAIServer([{"delay": 1.5, "text": "late"}], default={"text": "on time"}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, timeout=0.5, backoff_s=0.01)
        c = client.complete(ask(0), stage="s", prompt_version="v1")
    assert c.text == "on time" and client.requests_made == 2


def test_server_down_gives_clear_error_naming_endpoint_and_model(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    client = OpenAIChat(url, "some-model", cache_dir=tmp_path, max_retries=2, backoff_s=0.01)
    with pytest.raises(BackendError) as info:
        client.complete_many([ask(0), ask(1)], stage="filter", prompt_version="v1", progress=False)
    message = str(info.value)
    assert url in message and "some-model" in message and "filter" in message and "3 attempt" in message
    assert "0 of 2 calls are finished" in message


def test_refused_request_is_a_per_call_error_not_cached(tmp_path):
    script = [{"status": 400}, {"raw": b"<html>gateway</html>"}]
    with ScriptedOpenAIServer(script, default={"text": '{"score": 4}'}) as server:
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, backoff_s=0.01)
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
        client = OpenAIChat(server.base_url, "m", cache_dir=tmp_path, backoff_s=0.01)
        with pytest.raises(BackendError, match="HTTP 401"):
            client.complete(ask(0), stage="s", prompt_version="v1")
    assert client.requests_made == 1


def test_key_comes_from_the_named_env_var_and_is_never_written(tmp_path, monkeypatch):
    secret = "sk-test-1234567890"
    monkeypatch.setenv("TFT_TEST_KEY", secret)
    with ScriptedOpenAIServer() as server:
        client = OpenAIChat(server.base_url, "m", api_key_env="TFT_TEST_KEY", cache_dir=tmp_path / "c")
        client.complete(ask(0), stage="s", prompt_version="v1")
        client.ledger.save(tmp_path / "ledger.json")
        assert server.received[0]["authorization"] == f"Bearer {secret}"
        local = OpenAIChat(server.base_url, "m", cache_dir=tmp_path / "c")  # no key configured: dummy
        local.complete(ask(1), stage="s", prompt_version="v1")
        assert server.received[1]["authorization"] == f"Bearer {backends.DUMMY_KEY}"
    written = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert secret not in written and secret not in repr(client) and secret not in str(vars(client))

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
