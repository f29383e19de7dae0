"""Filter: score every trace for relevance and coherence (1-5, with a reason) and keep those at or above
the scenario's thresholds (STUDY §4.1; published: relevance >= 3, coherence >= 2).

Rules scorer (offline, deterministic), from the trace alone:
- relevance = domain evidence (what users talk about: restaurant words vs other services' words) and
  schema evidence (do the calls' and results' names map onto the target tools - see align.py);
- coherence = call/result ordering (a service call is followed by its results, results follow a call,
  the conversation alternates) and grounding (a call's city/cuisine/restaurant was said or returned
  before; results echo the call), as a violation rate per assistant turn mapped onto 5..1 by cut points.
LLM scorer: the rubric below through `tft_utils.llm.backends`, strict JSON parsing; a verdict that does not
parse is counted and the rules score stands in, with the reason saying so.
"""

from __future__ import annotations

import json
import re

from tft_utils.clean.align import function_score, name_score
from tft_utils.domain.calls import read_call, read_results
from tft_utils.domain.tools import RESPOND, RESULT_SLOTS, TARGET

PROMPT_VERSION = "filter-v1"
TARGET_WORDS = {
    "restaurant",
    "restaurants",
    "eat",
    "eating",
    "food",
    "cuisine",
    "dinner",
    "lunch",
    "brunch",
    "breakfast",
    "meal",
    "dine",
    "dining",
    "table",
    "menu",
    "cafe",
    "bar",
    "grill",
    "sushi",
    "pizza",
}
# Other services' words (public knowledge of what other assistants talk about, not read from data).
FOREIGN_WORDS = {
    "hotel",
    "hotels",
    "room",
    "rooms",
    "stay",
    "staying",
    "nights",
    "check-in",
    "checkin",
    "wifi",
    "lodging",
    "accommodation",
    "resort",
    "motel",
    "suite",
    "flight",
    "flights",
    "airline",
    "airport",
    "bus",
    "movie",
    "movies",
    "theater",
    "ride",
    "cab",
    "taxi",
    "rental",
    "concert",
    "apartment",
    "dentist",
    "doctor",
    "salon",
    "weather",
    "star",
    "stars",
    "days",
}
RUBRIC = """You review one logged conversation of a restaurant assistant. Its tools: {tools}.
Score it 1-5 on two axes.
relevance: 5 = about finding/booking restaurants with these tools; 3 = restaurant task with unusual tool
or parameter names; 1 = another domain (hotels, flights, ...).
coherence: 5 = every service call is followed by its results and the replies follow from what the user
said and what the tools returned; 2 = several calls or replies out of place; 1 = shuffled or nonsensical.
Answer with JSON only: {{"relevance": <1-5>, "coherence": <1-5>, "reason": "<one sentence>"}}"""


def _utterances(trace: dict) -> list[str]:
    return [
        m.get("content") or ""
        for m in trace["messages"]
        if m.get("role") == "user" and read_results(m) is None
    ]


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z-]*", text.lower())


def relevance(trace: dict) -> tuple[int, str]:
    """Domain evidence from what the users say, schema evidence from call and result names."""
    toks = [w for u in _utterances(trace) for w in _tokens(u)]
    n_target = sum(w in TARGET_WORDS for w in toks)
    n_foreign = sum(w in FOREIGN_WORDS for w in toks)
    domain = (n_target + 1) / (n_target + n_foreign + 2)  # Laplace: no evidence either way -> 0.5
    key_scores, fn_scores = [], []
    for m in trace["messages"]:
        if m.get("role") == "assistant":
            call = read_call(m)
            if call and call["name"] != RESPOND:
                fn_scores.append(max(function_score(call["name"], f) for f in TARGET if f != RESPOND))
                key_scores += [max(name_score(k, s) for s in RESULT_SLOTS) for k in call["arguments"]]
        else:
            for k in dict.fromkeys(k for r in read_results(m) or [] for k in r):  # first-seen order
                key_scores.append(max(name_score(k, s) for s in RESULT_SLOTS))
    schema = sum(key_scores) / len(key_scores) if key_scores else 0.5
    fns = sum(fn_scores) / len(fn_scores) if fn_scores else 0.5
    # e.g. domain 0.9, schema 1.0, functions 1.0 -> 1 + 4 x 0.94 = 4.8 -> 5; a hotel trace 0.1, 0.5 -> 2
    mix = 0.6 * domain + 0.25 * schema + 0.15 * fns
    score = max(1, min(5, round(1 + 4 * mix)))
    reason = (
        f"domain {domain:.2f} ({n_target} restaurant / {n_foreign} other-service words), "
        f"schema names {schema:.2f}, function names {fns:.2f}"
    )
    return score, reason


def _grounded(value, context: str) -> bool:
    return str(value).lower() in context


def coherence(trace: dict, cuts: list[float]) -> tuple[int, str]:
    """Violations per assistant turn -> 5..1 (rate <= cuts[0] -> 5, <= cuts[1] -> 4, ...)."""
    msgs = trace["messages"]
    kinds = []  # "user" | "result" | "call" | "reply" | "bad"
    for m in msgs:
        if m.get("role") == "assistant":
            call = read_call(m)
            kinds.append("bad" if call is None else "reply" if call["name"] == RESPOND else "call")
        else:
            kinds.append("result" if read_results(m) is not None else "user")
    order = ungrounded = mismatch = 0
    order += kinds[:1] != ["user"]
    order += kinds.count("bad")
    context = ""
    for i, k in enumerate(kinds):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else None
        if k == "call":
            order += nxt != "result"
            args = read_call(msgs[i])["arguments"]
            texts = {
                s: v for s, v in args.items() if isinstance(v, str) and len(v) > 2 and not v[:1].isdigit()
            }
            ungrounded += sum(not _grounded(v, context) for v in texts.values())
            res = read_results(msgs[i + 1]) if nxt == "result" else None
            if res:  # results echo the searched city / cuisine / booked restaurant
                mismatch += sum(
                    all(str(r.get(s, v)).lower() != str(v).lower() for r in res) for s, v in texts.items()
                )
        elif k == "result":
            order += i == 0 or kinds[i - 1] != "call"
        elif k == "user":
            order += nxt not in ("reply", "call", None)
        elif k == "reply":
            order += nxt in ("reply", "call", "result")
        context += " " + (msgs[i].get("content") or "").lower() if k in ("user", "result") else ""
    n_turns = max(1, kinds.count("call") + kinds.count("reply"))
    rate = (order + 0.5 * ungrounded + 0.5 * mismatch) / n_turns
    score = 5 - sum(rate > c for c in cuts)
    reason = (
        f"{order} ordering, {ungrounded} ungrounded, {mismatch} result-mismatch problems "
        f"over {n_turns} assistant turns (rate {rate:.2f})"
    )
    return max(1, score), reason


def rules_scores(trace: dict, params: dict) -> dict:
    rel, rel_why = relevance(trace)
    coh, coh_why = coherence(trace, params["coherence_cuts"])
    return {
        "relevance": rel,
        "coherence": coh,
        "reason": f"relevance: {rel_why}; coherence: {coh_why}",
        "scorer": "rules",
    }


def parse_verdict(text: str | None) -> dict | None:
    """Strict: one JSON object with integer relevance and coherence in 1..5 and a string reason."""
    if not text:
        return None
    m = re.search(r"\{.*\}", text, re.S)
    try:
        obj = json.loads(m.group(0)) if m else None
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    out = {}
    for key in ("relevance", "coherence"):
        v = obj.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
            return None
        out[key] = v
    out["reason"] = str(obj.get("reason", ""))
    return out


def _prompt(trace: dict) -> list[dict]:
    lines = []
    for m in trace["messages"]:
        call = read_call(m) if m.get("role") == "assistant" else None
        if call:
            lines.append(f"assistant -> {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)})")
        else:
            label = "tool results" if read_results(m) is not None else "user"
            lines.append(f"{label}: {m.get('content')}")
    tools = ", ".join(
        f"{f}({', '.join(s['required'] + [o + '?' for o in s['optional']])})" for f, s in TARGET.items()
    )
    return [
        {"role": "system", "content": RUBRIC.format(tools=tools)},
        {"role": "user", "content": "\n".join(lines)},
    ]


def score_traces(traces: list[dict], params: dict, client=None) -> list[dict]:
    """One row per trace: dialogue_id, relevance, coherence, reason, scorer, kept."""
    fp = params["filter"]
    rows = [dict(rules_scores(t, fp), dialogue_id=t["dialogue_id"]) for t in traces]
    if client is not None:
        done = client.complete_many(
            [_prompt(t) for t in traces], stage="filter", prompt_version=PROMPT_VERSION
        )
        for row, comp in zip(rows, done, strict=False):
            verdict = parse_verdict(comp.text) if not comp.error else None
            if verdict:
                row.update(verdict, scorer=client.model)
            else:  # counted, never silently dropped: the rules score stands in
                why = comp.error or f"unparseable verdict {str(comp.text)[:80]!r}"
                row.update(scorer="rules (llm failed)", reason=f"llm: {why}; rules: {row['reason']}")
    for row in rows:
        row["kept"] = row["relevance"] >= fp["relevance_min"] and row["coherence"] >= fp["coherence_min"]
    return rows
