"""The `llm_as_a_judge` metric (STUDY §6), offline: a deterministic rubric judge.

Rubric, as a careful human (or a strong LLM judge) applies it:
- a different function is bad;
- a service call is good when every parameter names the same real-world entity and intent as the
  gold call: cuisine synonyms and subcategories ("Sushi" is Japanese), date forms ("tomorrow",
  "March 2nd", ISO; relative to the conversation's date), time forms ("6 pm", "18:00", "evening 6")
  and party sizes in words or digits count as equal (tft_utils/domain/values.py); a wrong restaurant,
  city or an invented value is bad. An optional parameter left out (or added) is fine when its value
  is the tool's default, or a filter the user never asked for;
- a `respond_to_user` is good at any level of detail unless it contradicts the conversation: the
  tool results (alcohol, live music, price, address, phone, rating, counts, a restaurant no result
  returned, a booking that failed or was never made), booking details nobody asked for, a question
  of the user's that the gold reply answers and it ignores, or a goodbye while the user still
  wants something (`judge_reply`).
A prediction equal to the gold call is good by definition. The rules that read the conversation and its replies
(`build_context`, `same_value`, `judge_reply`) live in tft_utils/domain/replies.py, shared with the
grounding check; the LLM judge is tft_utils/evaluate/judge/llm.py.
"""

from __future__ import annotations

import json
import re

from tft_utils.domain.calls import ToolCall, parse_tool_call
from tft_utils.domain.replies import TOPIC, Context, Verdict, build_context, judge_reply, same_value
from tft_utils.domain.tools import OPTIONAL, RESPOND, TODAY_ISO, parameters
from tft_utils.domain.values import date_options, norm_text
from tft_utils.evaluate.metrics import tool_call_equivalence

# --------------------------------------------------------------------------- service calls


def _is_default(fn: str, key: str, value, ctx: Context) -> bool:
    default = OPTIONAL.get(fn, {}).get(key)
    if default is None:
        return False
    if norm_text(value) in ("dontcare", "any", "none", "null", ""):
        return True
    if default == "today":
        return ctx.today in date_options(value, ctx.today)
    return same_value(key, default, value, ctx)


def _unasked(key: str, ctx: Context) -> bool:
    pattern = TOPIC.get(key)
    return bool(pattern) and not re.search(pattern, " ".join(ctx.user_texts).lower())


def judge_call(gold: ToolCall, pred: ToolCall, ctx: Context) -> Verdict:
    """Same function assumed; compare entity by entity."""
    fn, g, p = gold.name, gold.parameters, pred.parameters
    for key in sorted(set(g) | set(p)):
        if key in g and key in p:
            if not same_value(key, g[key], p[key], ctx):
                return Verdict(False, f"{key}: {p[key]!r} is not {g[key]!r}")
        elif key in g:
            if not (_is_default(fn, key, g[key], ctx) or (key in TOPIC and _unasked(key, ctx))):
                return Verdict(False, f"leaves out {key}={g[key]!r}")
        elif key not in parameters(fn):
            return Verdict(False, f"{fn} has no parameter {key!r}")
        elif not (_is_default(fn, key, p[key], ctx) or (key in TOPIC and not _unasked(key, ctx))):
            return Verdict(False, f"adds {key}={p[key]!r}, which the gold call does not have")
    return Verdict(True, "same call: every parameter names the same entity")


# --------------------------------------------------------------------------- the rubric judge


def rubric_judge(question, answer, prediction, default_today: str = TODAY_ISO) -> Verdict:
    """One verdict: `question` is the messages (or their JSON string), answer/prediction raw."""
    gold = parse_tool_call(answer)
    pred = parse_tool_call(prediction)
    if pred is None:
        return Verdict(False, "prediction is not a tool call")
    if pred.name != gold.name:
        return Verdict(False, f"calls {pred.name}, the right call is {gold.name}")
    if tool_call_equivalence(gold, pred, "", "").valid:
        return Verdict(True, "the same call as the gold answer")
    messages = json.loads(question) if isinstance(question, str) else question
    ctx = build_context(messages, default_today)
    if gold.name == RESPOND:
        extra = set(pred.parameters) - {"message"}
        if extra:
            return Verdict(False, f"respond_to_user has no parameter {sorted(extra)[0]!r}")
        return judge_reply(pred.parameters.get("message"), ctx, str(gold.parameters.get("message", "")))
    return judge_call(gold, pred, ctx)
