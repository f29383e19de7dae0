"""Predictions from a model behind an OpenAI-compatible endpoint (notebook 06's `teacher` arm): the
teacher that wrote the synthetic data, asked the same test turns as the students, gives the ceiling
the students are distilled towards.

The request is the student's own rendering in chat form: our task prompt with the tools listed, the
conversation so far with earlier assistant calls written as `<tool_call>{...}</tool_call>` text and tool
results as user messages (as in our traces), and the instruction to answer with one such call. Plain
chat messages work with every endpoint (native `tool_calls` would need `tool` messages carrying call
ids, which the traces do not have). The reply text is the prediction, scored like a student's. Calls go
through the shared cache (`PROMPT_VERSION` is part of the key), so a rerun makes no request.
"""

from __future__ import annotations

import json
from pathlib import Path

from tft_utils.core.io import write_jsonl
from tft_utils.domain.calls import call_of, call_text
from tft_utils.evaluate.predict import PAIR_FIELDS, load_pairs
from tft_utils.train.render import TASK_PROMPT, fallback_tools_text

PROMPT_VERSION = "tft-predict-v1"
STAGE = "evaluate"
FORMAT = (
    "Answer with exactly one tool call and nothing else, written as\n"
    '<tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>'
)


def request(messages: list[dict], tools: list[dict]) -> list[dict]:
    """Chat messages asking for the next assistant turn of `messages`."""
    out = [{"role": "system", "content": f"{TASK_PROMPT}\n\n{fallback_tools_text(tools)}\n\n{FORMAT}"}]
    for i, m in enumerate(messages):
        if m.get("role") == "assistant":
            name, args = call_of(m, f"message {i}")
            out.append({"role": "assistant", "content": call_text(name, args)})
        elif m.get("role") in ("user", "tool"):
            content = m.get("content")
            out.append(
                {"role": "user", "content": content if isinstance(content, str) else json.dumps(content)}
            )
    return out


def predict_endpoint(client, pairs_path, out, tools: list[dict], progress: bool = True) -> dict:
    """Ask the endpoint every pair of `pairs_path`; write prediction rows to `out` (an error: null)."""
    pairs = load_pairs(pairs_path)
    done = client.complete_many(
        [request(p["_messages"], tools) for p in pairs], STAGE, PROMPT_VERSION, progress=progress
    )
    rows = [
        {k: p[k] for k in PAIR_FIELDS} | {"prediction": None if c.error else c.text}
        for p, c in zip(pairs, done, strict=True)
    ]
    write_jsonl(Path(out), rows)
    return {
        "pairs": len(rows),
        "errors": sum(c.error is not None for c in done),
        "cached": sum(c.cached for c in done),
    }
