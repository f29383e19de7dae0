"""Model backends: one client for every LLM role (committee member, teacher, judge, filter).

A role is configured in params as either `rules` (the caller runs its deterministic offline
algorithm; `make_client` returns None) or the name of an endpoint under `backends.endpoints`:
any OpenAI-compatible server (vLLM, `transformers serve`, Ollama, OpenAI, a gateway to Bedrock).

`OpenAIChat` sends chat requests through the `openai` SDK, which does the HTTP: timeouts, and
`max_retries` retries on 408 / 409 / 429 / 5xx, timeouts and dropped connections, waiting the
server's Retry-After (up to 2 min) or else 0.5 s * 2**n (at most 8 s, less up to 25 % jitter).
Around it, this module keeps
- bounded concurrency (a thread pool plus a semaphore, so at most `concurrency` requests are in
  flight per client even when several stages share it);
- an on-disk cache, one JSON file per call at cache_dir/<key[:2]>/<key>.json, where
  key = sha256(model, sampling, prompt_version, messages). Each file is written atomically the moment
  its call returns, so a stage killed half-way keeps every finished call and a rerun sends only the
  missing ones (and a fully cached rerun needs no server and no key at all);
- a `Ledger` of calls, cache hits, HTTP requests (retries included), tokens and cost per stage;
- the answer of a reasoning model (`split_reasoning`): roles parse `Completion.text`, the final
  content with any inline `<think>` block removed, never the reasoning, which gpt-oss on vLLM and
  gateways return in a separate `reasoning_content` / `reasoning` field and GLM and Qwen3 inline.

The API key is read from the environment variable *named* in the endpoint config, when a batch is
sent; it is never stored on the client, in the cache or in the ledger.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tft_utils.core.io import DataError, write_json, write_text
from tft_utils.core.params import ParamsError

DUMMY_KEY = "EMPTY"  # local servers (vLLM, transformers serve) accept any key
STOP_STATUS = {401, 403, 404}  # wrong key, model or URL: the stage stops at once
RETRIED_STATUS = {408, 409, 429}  # and every 5xx: the SDK retries them; still failing = endpoint down
REASONING_FIELDS = ("reasoning_content", "reasoning")  # vLLM <= 0.10 / DeepSeek; vLLM >= 0.11, gateways
THINK_TAG = re.compile(r"</?think>")
ENDPOINT_FIELDS = (
    "base_url",
    "model",
    "api_key_env",
    "sampling",
    "concurrency",
    "timeout",
    "max_retries",
    "price_in_per_mtok",
    "price_out_per_mtok",
)
_NOT_SAMPLING = {"model", "messages", "stream", "n"}  # owned by the client, one choice per call


class BackendError(RuntimeError):
    """An endpoint could not be used (down after retries, key missing, bad URL, refused request)."""


def split_reasoning(content: str | None) -> tuple[str | None, str | None]:
    """(answer, inline reasoning) of a reply's content. GLM and Qwen3 write `<think>...</think>`
    before the answer; the opening tag may be missing (the chat template put it in the prompt), the
    block may be empty (thinking off) or unclosed (the reply was cut while reasoning: no answer).
    Content with no tag is the answer exactly as sent. After a block, the answer is stripped, and
    None when nothing is left."""
    if content is None or "think>" not in content:
        return content, None
    close = content.rfind("</think>")
    if close != -1:
        reasoning, answer = content[:close], content[close + len("</think>") :]
        reasoning = reasoning[reasoning.find("<think>") :] if "<think>" in reasoning else reasoning
    else:  # unclosed
        start = content.find("<think>")
        if start == -1:
            return content, None
        answer, reasoning = content[:start], content[start:]
    return answer.strip() or None, THINK_TAG.sub("", reasoning).strip() or None


@dataclass
class Completion:
    """One reply. Roles parse `text`: the answer, i.e. the final content without reasoning (None when
    the model gave none: a reply cut while reasoning, or reasoning only). `content` is the content
    exactly as the server sent it; `reasoning` the separate field's text, else the inline block's."""

    text: str | None
    cached: bool = False
    error: str | None = None  # a request this endpoint refused (e.g. 400); never cached
    prompt_tokens: int = 0
    completion_tokens: int = 0  # reasoning tokens included, as servers count them
    content: str | None = None
    reasoning: str | None = None
    reasoning_tokens: int = 0
    reasoning_estimated: bool = False  # the server gave no count: estimated from the text

    @property
    def no_answer(self) -> bool:
        """A reply (not an error) with nothing to parse: roles count it as unparseable."""
        return self.error is None and not (self.text or "").strip()

    @classmethod
    def from_reply(cls, content, reasoning, usage: dict, cached: bool = False) -> Completion:
        """From a message's content and reasoning field and the response's usage (fresh or cached)."""
        if not isinstance(content, str | None) or not isinstance(reasoning, str | None):
            raise TypeError("content and reasoning must be strings or null")
        answer, inline = split_reasoning(content)
        reasoning = "\n".join(r for r in (reasoning, inline) if r) or None
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        details = usage.get("completion_tokens_details") or {}
        counted = int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0
        estimated = bool(reasoning) and not counted
        if estimated:  # the completion tokens shared by characters; 4 characters a token without usage
            share = len(reasoning) / (len(reasoning) + len(answer or ""))
            counted = round(completion * share) if completion else -(-len(reasoning) // 4)
        return cls(
            text=answer,
            cached=cached,
            prompt_tokens=prompt,
            completion_tokens=completion,
            content=content,
            reasoning=reasoning,
            reasoning_tokens=counted,
            reasoning_estimated=estimated,
        )


def cache_key(model: str, sampling: dict, prompt_version: str, messages: list[dict]) -> str:
    """sha256 of the canonical JSON of everything that decides the reply (key order irrelevant)."""
    blob = json.dumps(
        {"model": model, "sampling": sampling, "prompt_version": prompt_version, "messages": messages},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_json_object(text: str | None) -> dict | None:
    """First JSON object in a reply (```json fences and chatter around it allowed), else None.
    Roles use it for strict parsing and count the None results as unparseable."""
    if not text:
        return None
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
        start = text.find("{", start + 1)
    return None


class Ledger:
    """Calls, cache hits, tokens and cost per (stage, model). Thread-safe.

    cost_usd prices every call (what the stage costs from scratch); spent_usd only the calls sent
    this session (cache hits are free). Both are empty when the endpoint has no price.
    reasoning_tokens are part of completion_tokens: the server's count where it gives one
    (usage.completion_tokens_details.reasoning_tokens), else estimated from the reasoning's length;
    reasoning_estimated counts the calls estimated. no_answer counts replies with no final content
    (e.g. cut while reasoning): the roles count them as unparseable."""

    COLUMNS = (
        "stage",
        "model",
        "calls",
        "cached",
        "errors",
        "no_answer",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "reasoning_estimated",
        "cost_usd",
        "spent_usd",
    )

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()

    def _row(self, stage: str, model: str) -> dict:
        key = (stage, model)
        if key not in self._rows:
            self._rows[key] = {c: 0 for c in self.COLUMNS} | {
                "stage": stage,
                "model": model,
                "cost_usd": None,
                "spent_usd": None,
            }
        return self._rows[key]

    def record(self, stage: str, model: str, c: Completion, price_in=None, price_out=None) -> None:
        with self._lock:
            row = self._row(stage, model)
            row["calls"] += 1
            row["cached"] += int(c.cached)
            row["errors"] += int(c.error is not None)
            row["no_answer"] += int(c.no_answer)
            row["prompt_tokens"] += c.prompt_tokens
            row["completion_tokens"] += c.completion_tokens
            row["reasoning_tokens"] += c.reasoning_tokens
            row["reasoning_estimated"] += int(c.reasoning_estimated)
            if price_in is not None or price_out is not None:
                # prices are per million tokens: cost = tokens / 1e6 * price
                cost = (c.prompt_tokens * (price_in or 0) + c.completion_tokens * (price_out or 0)) / 1e6
                row["cost_usd"] = (row["cost_usd"] or 0.0) + cost
                row["spent_usd"] = (row["spent_usd"] or 0.0) + (0.0 if c.cached else cost)

    def add_requests(self, stage: str, model: str, n: int = 1) -> None:
        with self._lock:
            self._row(stage, model)["requests"] += n

    def rows(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rows.values()]

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(self.COLUMNS))

    def save(self, path: str | os.PathLike) -> Path:
        """`.csv` -> CSV, anything else -> JSON list of rows; written atomically."""
        path = Path(path)
        if path.suffix == ".csv":
            return write_text(path, self.table().to_csv(index=False))
        return write_json(path, self.rows())


LEDGER = Ledger()  # process-wide ledger used by make_client unless one is passed


class OpenAIChat:
    """Chat completions from one OpenAI-compatible endpoint, cached, bounded and counted."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        sampling: dict | None = None,
        cache_dir: str | os.PathLike | None = None,
        concurrency: int = 4,
        timeout: float = 60,
        max_retries: int = 4,
        price_in_per_mtok: float | None = None,
        price_out_per_mtok: float | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        sampling = copy.deepcopy(sampling or {})
        bad = sorted(_NOT_SAMPLING & set(sampling))
        if bad:
            raise ParamsError(f"endpoint {base_url} (model {model}): sampling may not set {', '.join(bad)}")
        if concurrency < 1:
            raise ParamsError(f"endpoint {base_url} (model {model}): concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")  # may hold ${VAR}, expanded at send time
        self.model = model
        self.api_key_env = api_key_env
        self.sampling = sampling
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.price_in_per_mtok = price_in_per_mtok
        self.price_out_per_mtok = price_out_per_mtok
        self.ledger = ledger if ledger is not None else Ledger()
        self.requests_made = 0  # HTTP requests sent, retries included; a fully cached rerun adds 0
        self._count_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)

    def __repr__(self) -> str:
        return (
            f"OpenAIChat(base_url={self.base_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"
        )

    def where(self) -> str:
        return f"endpoint {self.base_url} (model {self.model})"

    # -- cache -------------------------------------------------------------------------------
    def _cache_file(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir else None

    def _cache_get(self, key: str) -> Completion | None:
        path = self._cache_file(key)
        if path is None or not path.exists():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            usage = entry.get("usage") or {k: entry.get(k, 0) for k in ("prompt_tokens", "completion_tokens")}
            return Completion.from_reply(entry["text"], entry.get("reasoning"), usage, cached=True)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"{path}: unreadable cache entry ({e}); delete it to resend that call") from e

    def _cache_put(self, key: str, entry: dict) -> None:
        path = self._cache_file(key)
        if path is not None:
            write_json(path, entry)  # temp file + rename: a killed stage never leaves half an entry

    # -- sending (the openai SDK does the HTTP) ---------------------------------------------------
    def _sdk(self, stage: str, attempts: threading.local):
        """An `openai.OpenAI` for one batch: the key is read now and lives only in it; an httpx
        event hook counts every HTTP request it sends, retries included."""
        import openai

        base = os.path.expandvars(self.base_url)
        if "$" in base:
            raise BackendError(f"{self.where()}: base_url uses an environment variable that is not set")
        key = DUMMY_KEY
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise BackendError(
                    f"{self.where()}: environment variable {self.api_key_env} (the API key) is not set"
                )

        def sent(_request) -> None:
            attempts.n = getattr(attempts, "n", 0) + 1  # this thread's call
            with self._count_lock:
                self.requests_made += 1
            self.ledger.add_requests(stage, self.model)

        http = openai.DefaultHttpx2Client(event_hooks={"request": [sent]})
        return openai.OpenAI(
            base_url=base, api_key=key, max_retries=self.max_retries, timeout=self.timeout, http_client=http
        )

    def _send(self, sdk, messages: list[dict], attempts: threading.local) -> tuple[Completion, dict]:
        """One call (the SDK retries it): the completion and the reply's fields for the cache."""
        import openai

        attempts.n = 0
        try:
            with self._slots:
                raw = sdk.chat.completions.with_raw_response.create(
                    model=self.model, messages=messages, extra_body=self.sampling
                )
        except openai.APIStatusError as e:
            status, detail = e.status_code, e.response.text[:300].strip()
            if status in STOP_STATUS:
                raise BackendError(f"{self.where()}: HTTP {status}: {detail}") from None
            if status < 500 and status not in RETRIED_STATUS:  # this request is refused
                return Completion(text=None, error=f"HTTP {status}: {detail}"), {}
            last = f"HTTP {status}: {detail}"
        except openai.APIError as e:  # connection refused or dropped, timeouts
            cause = e.__cause__
            last = f"{type(cause).__name__}: {cause}" if cause else f"{type(e).__name__}: {e}"
        else:
            try:
                data = json.loads(raw.text)
                choice = data["choices"][0]
                message = choice["message"]
                reasoning = (
                    message[f] for f in REASONING_FIELDS if isinstance(message.get(f), str) and message[f]
                )
                reply = {
                    "text": message.get("content"),  # the content as sent, reasoning blocks included
                    "reasoning": next(reasoning, None),
                    "usage": data.get("usage") or {},
                    "finish_reason": choice.get("finish_reason"),
                }
                return Completion.from_reply(reply["text"], reply["reasoning"], reply["usage"]), reply
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                return Completion(text=None, error=f"malformed response: {raw.text[:300]!r}"), {}
        raise BackendError(f"{self.where()} did not answer after {attempts.n} attempt(s): {last}")

    # -- public ------------------------------------------------------------------------------
    def complete_many(
        self, requests: list[list[dict]], stage: str, prompt_version: str, progress: bool = True
    ) -> list[Completion]:
        """One Completion per request, in order. Cached calls are read from disk; the rest are sent
        `concurrency` at a time and cached as each returns. If the endpoint stays down, BackendError
        is raised after the in-flight calls settle; everything finished so far is on disk."""
        keys = []
        for i, messages in enumerate(requests):
            if not isinstance(messages, list) or not all(
                isinstance(m, dict) and "role" in m for m in messages
            ):
                raise DataError(f"stage {stage}: request {i} is not a list of chat messages with a 'role'")
            keys.append(cache_key(self.model, self.sampling, prompt_version, messages))
        results: dict[str, Completion] = {}
        todo: dict[str, list[dict]] = {}  # identical requests in one batch are sent once
        for key, messages in zip(keys, requests, strict=True):
            hit = results.get(key) or self._cache_get(key)
            if hit is not None:
                results[key] = hit
            else:
                todo.setdefault(key, messages)
        if todo:
            results.update(self._run(todo, stage, prompt_version, progress, len(requests)))
        out, seen = [], set()
        for key in keys:
            c = copy.copy(results[key])
            c.cached = c.cached or key in seen  # a repeat within the batch cost no request
            seen.add(key)
            self.ledger.record(stage, self.model, c, self.price_in_per_mtok, self.price_out_per_mtok)
            out.append(c)
        return out

    def _run(self, todo: dict, stage: str, prompt_version: str, progress: bool, total: int) -> dict:
        from tqdm.auto import tqdm

        attempts, stop = threading.local(), threading.Event()
        sdk = self._sdk(stage, attempts)
        done: dict[str, Completion] = {}
        bar = tqdm(total=len(todo), desc=f"{stage} [{self.model}]", disable=not progress)
        bar_lock = threading.Lock()

        def call(key: str, messages: list[dict]) -> None:
            if stop.is_set():  # another call of this batch failed: send no more
                return
            try:
                completion, reply = self._send(sdk, messages, attempts)
            except BaseException:
                stop.set()
                raise
            if completion.error is None:
                entry = {
                    "key": key,
                    "model": self.model,
                    "sampling": self.sampling,
                    "prompt_version": prompt_version,
                    "stage": stage,
                    "messages": messages,
                    **reply,
                    "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                self._cache_put(key, entry)
            done[key] = completion
            with bar_lock:
                bar.update(1)

        with sdk, ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(call, k, m) for k, m in todo.items()]
            try:
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:  # Ctrl-C in a notebook: queued calls never start, cached ones stay
                stop.set()
                pool.shutdown(cancel_futures=True)
                raise
            failed = [f for f in finished if f.exception() is not None]
            if failed:  # queued calls never start; in-flight ones end with their own retries
                pool.shutdown(cancel_futures=True)
        bar.close()
        if failed:
            error = failed[0].exception()
            if not isinstance(error, BackendError):
                raise error
            where = f"cached in {self.cache_dir}" if self.cache_dir else "no cache configured"
            n_done = total - len(todo) + sum(c.error is None for c in done.values())
            raise BackendError(
                f"stage {stage}: {error}. {n_done} of {total} calls are finished ({where}); "
                "fix the endpoint and rerun: finished calls are not sent again."
            ) from error
        return done

    def complete(self, messages: list[dict], stage: str, prompt_version: str) -> Completion:
        return self.complete_many([messages], stage, prompt_version, progress=False)[0]


# -- params -> clients ---------------------------------------------------------------------------
def endpoint_config(params: dict, name: str) -> dict:
    """`backends.endpoint_defaults` <- `backends.endpoints[name]`, checked field by field."""
    endpoints = params["backends"]["endpoints"] or {}
    if name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "(none)"
        raise ParamsError(f"backends.endpoints: no endpoint '{name}' (known: {known}; or use 'rules')")
    own = endpoints[name] or {}
    unknown = sorted(set(own) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ParamsError(
            f"backends.endpoints.{name}: unknown field(s) {', '.join(unknown)} (known: {', '.join(ENDPOINT_FIELDS)})"
        )
    cfg = copy.deepcopy(params["backends"]["endpoint_defaults"])
    for field, value in own.items():
        cfg[field] = {**(cfg.get("sampling") or {}), **value} if field == "sampling" else value
    for field in ("base_url", "model"):
        if not cfg.get(field):
            raise ParamsError(f"backends.endpoints.{name}.{field} is required")
    return cfg


def cache_dir(params: dict) -> Path:
    """One cache for every stage and scenario: backends.cache_dir, else <run.outputs>/llm_cache."""
    return Path(params["backends"]["cache_dir"] or Path(params["run"]["outputs"]) / "llm_cache")


def client_for(params: dict, spec: str, ledger: Ledger | None = None) -> OpenAIChat | None:
    """`rules` or `rules:<algorithm>` -> None; an endpoint name -> its OpenAIChat."""
    if not isinstance(spec, str) or not spec:
        raise ParamsError(f"roles: expected 'rules', 'rules:<algorithm>' or an endpoint name, got {spec!r}")
    if spec == "rules" or spec.startswith("rules:"):
        return None
    cfg = endpoint_config(params, spec)
    return OpenAIChat(**cfg, cache_dir=cache_dir(params), ledger=ledger if ledger is not None else LEDGER)


def make_client(params: dict, role: str, ledger: Ledger | None = None) -> OpenAIChat | None:
    """Client for `roles.<role>` (judge, teacher, filter); None means: use the rules algorithm."""
    roles = params["roles"]
    if role not in roles:
        raise ParamsError(f"roles: unknown role '{role}' (known: {', '.join(sorted(roles))})")
    if isinstance(roles[role], list):
        raise ParamsError(f"roles.{role} is a list of members: use backends.committee_clients(params)")
    return client_for(params, roles[role], ledger)


def committee_clients(params: dict, ledger: Ledger | None = None) -> list[tuple[str, OpenAIChat | None]]:
    """(member name, client) per `roles.committee` entry: ('result_grounded', None) for
    'rules:result_grounded', ('gpt-oss-120b', OpenAIChat) for an endpoint name."""
    members = params["roles"]["committee"]
    if not isinstance(members, list) or len(members) < 2:
        raise ParamsError(f"roles.committee must list at least two members, got {members!r}")
    out = []
    for spec in members:
        client = client_for(params, spec, ledger)
        name = spec.split(":", 1)[1] if client is None and ":" in spec else spec
        out.append((name, client))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ParamsError(f"roles.committee: members must differ, got {members!r}")
    return out


def summarize(completions: list[Completion]) -> dict[str, Any]:
    """Counts for one batch (for a stage's stats file): calls, cached, errors, replies without an
    answer, tokens."""
    return {
        "calls": len(completions),
        "cached": sum(c.cached for c in completions),
        "errors": sum(c.error is not None for c in completions),
        "no_answer": sum(c.no_answer for c in completions),
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "reasoning_tokens": sum(c.reasoning_tokens for c in completions),
    }


__all__ = [
    "BackendError",
    "Completion",
    "LEDGER",
    "Ledger",
    "OpenAIChat",
    "cache_key",
    "client_for",
    "committee_clients",
    "endpoint_config",
    "make_client",
    "parse_json_object",
    "split_reasoning",
    "summarize",
]
