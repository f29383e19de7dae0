"""The LLM judge: the same rubric as tft_utils/domain/replies.py, asked of a model behind an OpenAI-compatible
endpoint (`tft_utils.llm.backends.OpenAIChat`, which caches every call on disk).

Our own prompt, versioned (`PROMPT_VERSION` is part of the cache key, so editing the prompt means
bumping it). The endpoint's sampling should use temperature 0 (the params default). Parsing is strict:
the reply must hold a JSON object whose "verdict" is exactly "good" or "bad"; anything else is an
unparseable verdict, kept and counted, never dropped.
"""

from __future__ import annotations

import json

from tft_utils.domain.calls import parse_tool_call
from tft_utils.domain.replies import Verdict
from tft_utils.llm.backends import parse_json_object

PROMPT_VERSION = "tft-judge-v1"
STAGE = "judge"

SYSTEM = """You grade one turn of a restaurant assistant that may only act through tool calls:
respond_to_user(message), FindRestaurants(city, cuisine, price_range?, has_live_music?, serves_alcohol?),
ReserveRestaurant(restaurant_name, city, time, date?, party_size?).
You see the conversation so far (tool results appear as JSON lists), the reference call, and the
assistant's predicted call. Decide whether the prediction is acceptable.

Rubric:
1. A different function from the reference is bad. Output that is not a tool call is bad.
2. A service call is good when every parameter names the same real-world entity and intent as the
   reference: cuisine synonyms and subcategories (Sushi = Japanese), date forms (today, tomorrow,
   March 3rd, 2019-03-03), time forms (6 pm, 18:00) and parameter order do not matter. A wrong
   restaurant, wrong city or an invented value is bad. Leaving out or adding an optional parameter
   with its default value, or a filter the user never asked for, is fine.
3. A respond_to_user message is good when it is a reasonable reply at that point, at any level of
   detail. It is bad only when it contradicts the conversation: says a place serves alcohol or has
   live music when the result says otherwise, gives a wrong price range, address or phone number,
   says a booking failed that succeeded (or succeeded when none was made), names a restaurant no
   result returned, or invents booking details.

Answer with only a JSON object: {"verdict": "good" or "bad", "reason": "<one short sentence>"}"""


def render_conversation(messages: list[dict]) -> str:
    lines = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            fn = m["tool_calls"][0]["function"]
            args = fn.get("arguments")
            args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            lines.append(f"ASSISTANT calls {fn['name']}({args})")
        else:
            lines.append(f"{str(m.get('role', '?')).upper()}: {m.get('content')}")
    return "\n".join(lines)


def judge_request(question, answer: str, prediction: str) -> list[dict]:
    """The chat messages sent for one pair."""
    messages = json.loads(question) if isinstance(question, str) else question
    user = (
        f"Conversation:\n{render_conversation(messages)}\n\n"
        f"Reference call:\n{answer}\n\nPredicted call:\n{prediction}\n\n"
        'Reply with {"verdict": "good" or "bad", "reason": "..."} only.'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str | None) -> Verdict:
    """Strict: {"verdict": "good"|"bad", ...}; otherwise Verdict(None, why it was unparseable)."""
    obj = parse_json_object(text)
    verdict = obj.get("verdict") if obj else None
    if not isinstance(verdict, str) or verdict.strip().lower() not in ("good", "bad"):
        shown = (text or "").strip().replace("\n", " ")[:80]
        return Verdict(None, f"unparseable verdict: {shown!r}")
    reason = obj.get("reason")
    return Verdict(verdict.strip().lower() == "good", str(reason).strip() if reason else "(no reason given)")


def llm_judge_many(client, pairs: list[tuple], progress: bool = True) -> list[Verdict]:
    """One verdict per (question, answer, prediction). A prediction that is not a tool call is bad
    without asking (rubric rule 1); a failed call is an unparseable verdict, like a garbled reply."""
    out: list[Verdict | None] = [None] * len(pairs)
    asks, where = [], []
    for i, (question, answer, prediction) in enumerate(pairs):
        if parse_tool_call(prediction) is None:
            out[i] = Verdict(False, "prediction is not a tool call")
        else:
            asks.append(judge_request(question, answer, prediction))
            where.append(i)
    completions = client.complete_many(asks, stage=STAGE, prompt_version=PROMPT_VERSION, progress=progress)
    for i, c in zip(where, completions, strict=True):
        out[i] = Verdict(None, f"judge call failed: {c.error}") if c.error else parse_verdict(c.text)
    return out
