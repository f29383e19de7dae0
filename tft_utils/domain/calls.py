"""Tool calls: read from and written into OpenAI chat messages, rendered for the student, and read
back from a model's raw output.

An assistant message carries one call, `tool_calls[0].function` with a `name` and `arguments`
(a JSON string in trace files, an object in question files); a tool's results come back as the
next user message holding a JSON list. Three readers, by how much they trust the message:
- `call_of`: strict (a stage's input): a malformed call is a `DataError` naming where; an assistant
  message with text content and no call reads as `respond_to_user(text)`;
- `read_call`: lenient (noisy traces): `{"name", "arguments"}` or None, never an error;
- `parse_tool_call`: a model's output text -> `ToolCall` or None.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tft_utils.core.io import DataError
from tft_utils.domain.tools import RESPOND


@dataclass(frozen=True)
class ToolCall:
    name: str
    parameters: dict


# --------------------------------------------------------------------------- messages


def _decoded(args):
    """Arguments as given: a JSON string decoded (blank: {}), anything else unchanged."""
    return (json.loads(args) if args.strip() else {}) if isinstance(args, str) else args


def assistant_call(name: str, arguments: dict, cid: str) -> dict:
    """An assistant message with one tool call; `arguments` stored as a JSON string (OpenAI)."""
    fn = {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}
    return {"role": "assistant", "tool_calls": [{"id": cid, "type": "function", "function": fn}]}


def call_of(message: dict, where: str = "message") -> tuple[str, dict]:
    """(name, arguments) of an assistant message; arguments may be a JSON string or an object.
    An assistant message with text content and no tool call is read as respond_to_user(text)."""
    calls = message.get("tool_calls")
    if not calls:
        if isinstance(message.get("content"), str):
            return RESPOND, {"message": message["content"]}
        raise DataError(f"{where}: assistant message without tool_calls or content")
    fn = calls[0].get("function", calls[0])
    try:
        args = _decoded(fn.get("arguments"))
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: tool-call arguments are not valid JSON ({e.msg})") from e
    if not isinstance(fn.get("name"), str) or not isinstance(args or {}, dict):
        raise DataError(f"{where}: tool call needs a string name and object arguments")
    return fn["name"], dict(args or {})


def read_call(msg: dict) -> dict | None:
    """`{"name", "arguments"}` of an assistant message; None when it has no readable tool call."""
    try:
        fn = msg["tool_calls"][0]["function"]
        args = fn.get("arguments") or {}
        args = json.loads(args) if isinstance(args, str) else dict(args)
        return {"name": str(fn["name"]), "arguments": args if isinstance(args, dict) else {}}
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def call_name(msg: dict) -> str | None:
    """The called tool's name, without reading the arguments; None when the message has no call."""
    return (msg.get("tool_calls") or [{}])[0].get("function", {}).get("name")


def write_call(msg: dict, call: dict) -> None:
    """Set an assistant message's call (`{"name", "arguments"}`), arguments as a JSON string."""
    fn = msg["tool_calls"][0]["function"]
    fn["name"], fn["arguments"] = call["name"], json.dumps(call["arguments"], ensure_ascii=False)


def read_results(msg: dict) -> list[dict] | None:
    """The result list of a tool-result message (a user message holding a JSON list), else None."""
    if msg.get("role") != "user" or not str(msg.get("content") or "").lstrip().startswith("["):
        return None
    try:
        res = json.loads(msg["content"])
    except ValueError:
        return None
    return [r for r in res if isinstance(r, dict)] if isinstance(res, list) else None


def call_text(name: str, arguments: dict) -> str:
    """A call as the student writes it (Qwen3/Hermes format)."""
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


# --------------------------------------------------------------------------- a model's output

_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_DECODER = json.JSONDecoder()


def _as_call(obj: Any) -> ToolCall | None:
    """A decoded JSON value -> ToolCall, accepting `parameters` or `arguments` (object or JSON string)."""
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # OpenAI {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    try:
        args = _decoded(obj.get("parameters", obj.get("arguments", {})))
    except json.JSONDecodeError:
        return None
    if args is None:
        args = {}
    if not isinstance(name, str) or not name.strip() or not isinstance(args, dict):
        return None
    return ToolCall(name.strip(), args)


def _first_json_call(text: str) -> ToolCall | None:
    """Try every '{' as the start of a JSON value; the first that decodes to a call wins."""
    for m in re.finditer(r"[{\[]", text):
        try:
            obj, _ = _DECODER.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        call = _as_call(obj)
        if call is not None:
            return call
    return None


def parse_tool_call(text: Any) -> ToolCall | None:
    """A model's raw output -> ToolCall, or None when no tool call can be read from it.

    Accepts `{"name", "parameters"}` JSON, `<tool_call>{"name", "arguments"}</tool_call>`, code
    fences and text around the JSON; an already-decoded dict is accepted as well.
    """
    if isinstance(text, dict):
        return _as_call(text)
    if not isinstance(text, str) or not text.strip():
        return None
    return _parse_text(text)


@lru_cache(maxsize=65536)
def _parse_text(text: str) -> ToolCall | None:
    # Cached: a file repeats the same answers and predictions; callers never mutate the result.
    for pattern in (_TOOL_CALL_TAG, _FENCE):
        for m in pattern.finditer(text):
            call = _first_json_call(m.group(1))
            if call is not None:
                return call
    return _first_json_call(text)
