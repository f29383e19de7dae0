"""A conversation's messages as every stage reads them (OpenAI chat format), checked where a file comes in.

A user's own traces reach `tft clean`, `synth`, `train`, `predict` and `score`; each reads them through
`checked_messages`, so a wrong shape is one `DataError` naming the file's line, the message and the field
(not an AttributeError deep inside a stage), and the accepted shapes are the same everywhere:

- a non-empty list of objects, each with a `role` of system, user, assistant or tool;
- `content`: a string, null, a list of text parts (`[{"type": "text", "text": "..."}]`, which the OpenAI
  API accepts too: the parts are joined into one string), or another JSON list or object (a tool's
  results, which the renderer writes as JSON);
- `tool_calls` (when present and not null): a list of objects, each `{"function": {"name": str, "arguments":
  ...}}` (or the function's fields directly); the arguments are not read here, since a noisy trace's
  unreadable arguments are for `tft clean` to mask, not an input error.
"""

from __future__ import annotations

from tft_utils.core.io import DataError

ROLES = ("system", "user", "assistant", "tool")


def _text(content, where: str):
    """A message's content with text parts joined into a string; DataError for a number or a boolean."""
    if (
        isinstance(content, list)
        and content
        and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        )
    ):
        return "".join(p["text"] for p in content)
    if content is None or isinstance(content, (str, list, dict)):
        return content
    raise DataError(
        f"{where}: 'content' must be a string, null, a list of text parts or a tool's JSON results, "
        f"got {type(content).__name__}"
    )


def _check_calls(calls, where: str) -> None:
    ok = isinstance(calls, list) and all(isinstance(c, dict) for c in calls)
    fns = [c.get("function", c) for c in calls] if ok else []
    if not ok or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fns):
        raise DataError(
            f'{where}: \'tool_calls\' must be a list of {{"function": {{"name": ..., "arguments": ...}}}} '
            f"objects, got {calls!r:.80}"
        )


def checked_messages(messages, where: str) -> list[dict]:
    """`messages` checked as above, with text-part content joined (a new list; the input is left as it is);
    `where` names the file and line (or conversation) in the error."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list of chat messages")
    out = []
    for j, m in enumerate(messages):
        at = f"{where}: message {j}"
        if not isinstance(m, dict):
            raise DataError(f"{at}: expected an object with a 'role', got {type(m).__name__}")
        if m.get("role") not in ROLES:
            raise DataError(f"{at}: 'role' must be one of {', '.join(ROLES)}, got {m.get('role')!r}")
        if m.get("tool_calls") is not None:
            _check_calls(m["tool_calls"], at)
        text = _text(m.get("content"), at)
        out.append(m if text is m.get("content") else {**m, "content": text})
    return out


def checked_id(row: dict, where: str) -> str:
    """A trace's `dialogue_id` as a string: a non-empty string or an integer (DataError otherwise)."""
    did = row.get("dialogue_id")
    if isinstance(did, bool) or not isinstance(did, (str, int)) or did == "":
        raise DataError(f"{where}: 'dialogue_id' must be a non-empty string or an integer, got {did!r:.60}")
    return str(did)


def unique_ids(numbered: list[tuple[int, dict]], path) -> None:
    """Every trace of a file has its own dialogue_id (stages match turns and outputs by it: two traces
    with one id would exchange labels); DataError naming both lines otherwise."""
    seen: dict[str, int] = {}
    for line, row in numbered:
        did = checked_id(row, f"{path}:{line}")
        if did in seen:
            raise DataError(
                f"{path}:{line}: dialogue_id {did!r} is also on line {seen[did]}: each trace needs its own id"
            )
        seen[did] = line
