"""Model backends: one client for every LLM role (committee member, teacher, judge, filter).

A role is configured in params as either `rules` (the caller runs its deterministic offline
algorithm; `make_client` returns None) or the name of an endpoint under `backends.endpoints`:
any OpenAI-compatible server (vLLM, `transformers serve`, Ollama, OpenAI, a gateway to Bedrock).

`OpenAIChat` sends chat requests with
- bounded concurrency (a thread pool plus a semaphore, so at most `concurrency` requests are in
  flight per client even when several stages share it);
- retries with exponential backoff on 429 / 5xx / timeouts / connection errors: waits of
  backoff_s * 2**attempt (1, 2, 4, 8 s with the defaults), or the server's Retry-After when given;
- an on-disk cache, one JSON file per call at cache_dir/<key[:2]>/<key>.json, where
  key = sha256(model, sampling, prompt_version, messages). Each file is written atomically the moment
  its call returns, so a stage killed half-way keeps every finished call and a rerun sends only the
  missing ones (and a fully cached rerun needs no server and no key at all).
- a `Ledger` of calls, cache hits, tokens and cost per stage.

The API key is read from the environment variable *named* in the endpoint config, at send time
only; it is never stored on the client, in the cache or in the ledger.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tft_utils.io import DataError, write_json, write_text
from tft_utils.params import ParamsError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}  # plus any other 5xx
MAX_WAIT_S = 60.0  # cap on one backoff wait, including a server's Retry-After
DUMMY_KEY = "EMPTY"  # local servers (vLLM, transformers serve) accept any key
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


@dataclass
class Completion:
    text: str | None  # the model's reply exactly as returned (None when it sent no content)
    cached: bool = False
    error: str | None = None  # a request this endpoint refused (e.g. 400); never cached
    prompt_tokens: int = 0
    completion_tokens: int = 0


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
    this session (cache hits are free). Both are empty when the endpoint has no price."""

    COLUMNS = (
        "stage",
        "model",
        "calls",
        "cached",
        "errors",
        "requests",
        "prompt_tokens",
        "completion_tokens",
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
            row["prompt_tokens"] += c.prompt_tokens
            row["completion_tokens"] += c.completion_tokens
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
    """Chat completions from one OpenAI-compatible endpoint, cached, retried and counted."""

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
        backoff_s: float = 1.0,
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
        self.backoff_s = float(backoff_s)
        self.requests_made = 0  # HTTP requests sent, retries included; a fully cached rerun adds 0
        self._count_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._http = httpx.Client(timeout=self.timeout)

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
            return Completion(
                text=entry["text"],
                cached=True,
                prompt_tokens=int(entry.get("prompt_tokens", 0)),
                completion_tokens=int(entry.get("completion_tokens", 0)),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: unreadable cache entry ({e}); delete it to resend that call") from e

    def _cache_put(self, key: str, entry: dict) -> None:
        path = self._cache_file(key)
        if path is not None:
            write_json(path, entry)  # temp file + rename: a killed stage never leaves half an entry

    # -- one request -------------------------------------------------------------------------
    def _url_and_headers(self) -> tuple[str, dict]:
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
        return f"{base}/chat/completions", {"Authorization": f"Bearer {key}"}

    def _wait_s(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        try:
            if retry_after is not None:
                return min(float(retry_after), MAX_WAIT_S)
        except ValueError:
            pass  # an HTTP date: fall back to our own schedule
        return min(self.backoff_s * 2**attempt, MAX_WAIT_S)

    def _send(self, messages: list[dict], stop: threading.Event, stage: str) -> tuple[Completion, dict]:
        """POST one request with retries; returns the completion and the raw response JSON."""
        url, headers = self._url_and_headers()
        body = {"model": self.model, "messages": messages, **self.sampling}
        last = ""
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise BackendError(f"{self.where()}: stopped, another call of stage {stage} failed")
            response = None
            with self._count_lock:
                self.requests_made += 1
            self.ledger.add_requests(stage, self.model)
            try:
                with self._slots:
                    response = self._http.post(url, json=body, headers=headers)
            except httpx.TransportError as e:  # connection refused/reset, timeouts
                last = f"{type(e).__name__}: {e}"
            else:
                status = response.status_code
                if status == 200:
                    return self._parse(response)
                detail = response.text[:300].strip()
                if status in (401, 403, 404):  # wrong key, model or URL: no point in going on
                    raise BackendError(f"{self.where()}: HTTP {status}: {detail}")
                if status not in RETRY_STATUS and status < 500:  # this request is refused
                    return Completion(text=None, error=f"HTTP {status}: {detail}"), {}
                last = f"HTTP {status}: {detail}"
            if attempt < self.max_retries:
                stop.wait(self._wait_s(attempt, response))
        raise BackendError(f"{self.where()} did not answer after {attempt + 1} attempt(s): {last}")

    def _parse(self, response: httpx.Response) -> tuple[Completion, dict]:
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            return Completion(text=None, error=f"malformed response: {response.text[:300]!r}"), {}
        usage = data.get("usage") or {}
        completion = Completion(
            text=message.get("content"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
        return completion, data

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

        stop = threading.Event()
        done: dict[str, Completion] = {}
        bar = tqdm(total=len(todo), desc=f"{stage} [{self.model}]", disable=not progress)
        bar_lock = threading.Lock()

        def call(key: str, messages: list[dict]) -> None:
            completion, raw = self._send(messages, stop, stage)
            if completion.error is None:
                entry = {
                    "key": key,
                    "model": self.model,
                    "sampling": self.sampling,
                    "prompt_version": prompt_version,
                    "stage": stage,
                    "messages": messages,
                    "text": completion.text,
                    "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens,
                    "finish_reason": (raw.get("choices") or [{}])[0].get("finish_reason"),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                self._cache_put(key, entry)
            done[key] = completion
            with bar_lock:
                bar.update(1)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(call, k, m) for k, m in todo.items()]
            try:
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:  # Ctrl-C in a notebook: stop at once, keep what is cached
                stop.set()
                pool.shutdown(cancel_futures=True)
                raise
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                stop.set()  # in-flight calls stop retrying; queued ones never start
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

    def close(self) -> None:
        self._http.close()


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
    """Counts for one batch (for a stage's stats file): calls, cached, errors, tokens."""
    return {
        "calls": len(completions),
        "cached": sum(c.cached for c in completions),
        "errors": sum(c.error is not None for c in completions),
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
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
    "summarize",
]
