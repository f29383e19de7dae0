"""A user's traces file read once for every command that takes one (`tft clean`, `tft pairs`): one JSON object a
line, each with its own `dialogue_id` (stages match turns and pairs by it) and messages of the shape every stage
reads (`domain.messages`). A module of its own: the students' code counts `domain/messages.py`, not this file."""

from __future__ import annotations

from tft_utils.core.io import DataError, numbered_jsonl
from tft_utils.domain.messages import checked_messages, unique_ids


def trace_where(path, line: int, trace: dict) -> str:
    """How an error names a trace: its file, line and dialogue."""
    return f"{path}:{line} (dialogue {trace['dialogue_id']})"


def read_traces(path) -> list[tuple[int, dict]]:
    """(file line, trace) of every trace of `path`, messages checked (text parts joined); DataError naming the
    file and line of the first bad one, or saying the file is empty."""
    numbered = list(numbered_jsonl(path, required=("dialogue_id", "messages")))
    if not numbered:
        raise DataError(f"{path}: no traces (an empty file)")
    unique_ids(numbered, path)
    return [
        (line, {**t, "messages": checked_messages(t["messages"], trace_where(path, line, t))})
        for line, t in numbered
    ]
