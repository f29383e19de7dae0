"""Committee relabel: independent relabelers propose every assistant turn; votes are canonicalised and
counted stage by stage (function name -> parameter keys -> values); agreement keeps the label (or the
relabel), disagreement goes to the teacher when one is configured, else the turn is masked out of
training (STUDY §4.2, §8).

Rules members (roles.committee entries `rules:<algorithm>`), each from different evidence:
- result_grounded: the tool-result message that follows a turn. Results mean a service call was made;
  their keys say which (a reservation echoes time/date/party_size); their values rebuild the call
  (city, cuisine, the booked restaurant...), with the logged call's values kept only where the results
  confirm them. No results: a reply, kept only if what it names is grounded in the conversation and
  the scenario's tool results (no unknown hotels, prices or phone numbers; "booked" only after a
  booking's results).
- state_tracker: what the user asked so far and what the tools returned before the turn
  (relabel_dst.DialogueState) -> the call that state implies; a reply is kept only if it fits the task
  and the flow (no other-service words, "have a nice day" only at the end...).
An endpoint name instead of `rules:...` makes that member an LLM asked for the turn's call.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter

from tft_utils.clean.filter import FOREIGN_WORDS
from tft_utils.clean.state_tracker import DialogueState
from tft_utils.domain.calls import read_call, read_results
from tft_utils.domain.tools import (
    BOOKING_DETAILS,
    CONSTRAINTS,
    FIND,
    RESERVE,
    RESPOND,
    SERVICE_TOOLS,
    TARGET,
    parameters,
)

PROMPT_VERSION = "relabel-v1"
CLOSER = re.compile(
    r"\bhave a (\w+ )?(day|time|one|evening|night|meal|weekend)\b|\bgood ?bye\b|\bbye\b|"
    r"\benjoy (your|the)\b",
    re.I,
)
OFFER_MORE = re.compile(
    r"\b(anything|something) (else|more)\b|\bany(thing)? other\b|\bfurther\b|"
    r"\bhelp (you )?with\b|\bassist you\b|\bthere (is )?more\b",
    re.I,
)
SUCCESS = re.compile(
    r"\b(reserv\w*|book\w*|table)\b[^.?!]*\b(made|confirmed|successful\w*|complete\w*|"
    r"placed|done|set|reserved|booked)\b|\bsuccessfully\b",
    re.I,
)
ASKS_CONFIRM = re.compile(r"\bconfirm\b|\?|\b(would|do) you (like|want)\b|\bshall\b", re.I)
FAILURE = re.compile(
    r"\b(unable|not able|couldn't|could not|wasn't able|not successful|unsuccessful|"
    r"fully booked|failed|sorry)\b",
    re.I,
)
THANKS = re.compile(
    r"\b(thank\w*|that's all|that is all|nothing (else|more)|bye|all set|that will be all|"
    r"that would be all|that's it|no,? that|not now|no thanks|i'm good|great|perfect)\b",
    re.I,
)
ASKS_NON_SCHEMA = re.compile(r"\bhow (long|many (days|nights|rooms))\b|\bcheck(ing)? (in|out)\b", re.I)
SPAN = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][\w'&-]*(?: (?:[A-Z][\w'&-]*|&|and|of|de|la))*)")
NUMBERISH = re.compile(
    r"\$\s?\d+|\+\d[\d ]{6,}|\b\d{3}-\d{3}-\d{4}\b|\b\d+ [A-Z]\w+ (Street|St|Avenue|Ave|"
    r"Road|Rd|Boulevard|Blvd|Lane|Way|Drive|Court|Place)\b"
)


def _msg_text(call: dict) -> str:
    return str(call["arguments"].get("message", ""))


class ScenarioContext:
    """Scenario-level knowledge the rules members share: catalogues of values seen in tool results
    (and in calls, for words users say), the user vocabulary, the task's reference date."""

    def __init__(self, traces: list[dict], params: dict):
        self.params = params
        self.today = dt.date.fromisoformat(params["today"])
        self.cat: dict[str, set[str]] = {"city": set(), "cuisine": set(), "restaurant_name": set()}
        self.user_words: set[str] = set()
        for t in traces:
            for m in t["messages"]:
                res = read_results(m)
                if res is not None:
                    for r in res:
                        for k in self.cat:
                            if isinstance(r.get(k), str):
                                self.cat[k].add(r[k])
                elif m.get("role") == "user":
                    self.user_words |= set(re.findall(r"[a-z']+", (m.get("content") or "").lower()))
        for vals in self.cat.values():
            self.user_words |= {w for v in vals for w in re.findall(r"[a-z']+", v.lower())}
        self.known = {v.lower() for vals in self.cat.values() for v in vals}


# --------------------------------------------------------------------------- member: result_grounded


def _close_times(a, b, minutes: int) -> bool:
    try:
        ha, ma = map(int, str(a).split(":"))
        hb, mb = map(int, str(b).split(":"))
    except ValueError:
        return False
    return abs((ha * 60 + ma) - (hb * 60 + mb)) <= minutes


def reply_grounded(text: str, context: str, prev_results: list | None, ctx: ScenarioContext) -> bool:
    """Everything a reply names was said, returned, or is a known value of the scenario's results."""
    booking = bool(prev_results) and "time" in prev_results[0]
    claims_success = SUCCESS.search(text) and not FAILURE.search(text) and not ASKS_CONFIRM.search(text)
    if claims_success and not booking:
        return False  # "your table is booked" with no booking results before it
    if prev_results is not None:  # the reply right after results reports them
        if booking and not (SUCCESS.search(text) or FAILURE.search(text)):
            return False
        if prev_results and not booking:
            names = {str(r.get("restaurant_name", "")).lower() for r in prev_results}
            if not any(n and n in text.lower() for n in names) and not re.search(r"\d|\bone\b", text):
                return False
    for m in NUMBERISH.finditer(text):
        if m.group(0).lower() not in context:
            return False
    for m in SPAN.finditer(text):
        span = m.group(1).lower()
        if span in context or span in ctx.known:
            continue
        ws = re.findall(r"[a-z']+", span)
        if sum(w in ctx.user_words or w in context for w in ws) < len(ws) / 2:
            return False  # mostly unknown words: a name from somewhere else
    return True


def result_grounded(trace: dict, ctx: ScenarioContext) -> dict[int, dict | None]:
    msgs, out, context = trace["messages"], {}, ""
    for i, m in enumerate(msgs):
        if m.get("role") != "assistant":
            context += " " + (m.get("content") or "").lower()
            continue
        orig = read_call(m) or {"name": "", "arguments": {}}
        res = read_results(msgs[i + 1]) if i + 1 < len(msgs) else None
        prev = read_results(msgs[i - 1]) if i else None
        if res is None:  # nothing executed after it: a reply
            ok = orig["name"] == RESPOND and reply_grounded(_msg_text(orig), context, prev, ctx)
            out[i] = {"name": RESPOND, "arguments": {"message": _msg_text(orig) if ok else None}}
        elif not res:  # executed, nothing returned: only the logged call says what it was
            out[i] = orig if orig["name"] in SERVICE_TOOLS else None
        elif set(BOOKING_DETAILS) & set(res[0]):
            r, logged = res[0], orig["arguments"]
            args = {k: r.get(k) for k in ("restaurant_name", "city", "date", "party_size")}
            # The booked time may differ from the asked one (the service offers the nearest slot).
            close = _close_times(logged.get("time"), r.get("time"), ctx.params["time_tolerance_min"])
            args["time"] = logged.get("time") if close else None
            out[i] = {"name": RESERVE, "arguments": args}
        else:
            const = {k: res[0][k] for k in res[0] if all(r.get(k) == res[0][k] for r in res)}
            args = {k: const.get(k) for k in ("city", "cuisine")}
            for k in CONSTRAINTS:  # a constraint only if the logged call had it and results agree
                if (
                    k in orig["arguments"]
                    and str(orig["arguments"][k]).lower() == str(const.get(k, "")).lower()
                ):
                    args[k] = const[k]
            out[i] = {"name": FIND, "arguments": args}
    return out


# --------------------------------------------------------------------------- member: state_tracker


def reply_fits(text: str, later_user: list[str], prev_user: str, prev_results: list | None) -> bool:
    """A reply fits the task and the flow of the dialogue (evidence: words and position)."""
    words = set(re.findall(r"[a-z][a-z-]*", text.lower()))
    if words & FOREIGN_WORDS or ASKS_NON_SCHEMA.search(text):
        return False
    if CLOSER.search(text) and later_user and not THANKS.search(later_user[0]):
        return False  # a goodbye while the user still has requests
    if OFFER_MORE.search(text) and not SUCCESS.search(text):
        done = prev_results is not None or THANKS.search(prev_user) or not later_user
        if not done:
            return False
    return True


def state_tracker(trace: dict, ctx: ScenarioContext) -> dict[int, dict | None]:
    p = ctx.params
    state = DialogueState(ctx.cat, ctx.today)
    msgs, out = trace["messages"], {}
    users = [
        (i, m.get("content") or "")
        for i, m in enumerate(msgs)
        if m.get("role") == "user" and read_results(m) is None
    ]
    for i, m in enumerate(msgs):
        if m.get("role") == "assistant":
            orig = read_call(m) or {"name": "", "arguments": {}}
            res = read_results(msgs[i + 1]) if i + 1 < len(msgs) else None
            if res is not None:
                if state.intent == RESERVE and (state.slots.get("restaurant_name") or state.offered):
                    out[i] = state.reserve_call(p["default_date"], p["default_party_size"])
                else:
                    out[i] = state.find_call()
            else:
                later = [u for j, u in users if j > i]
                prev_user = next((u for j, u in reversed(users) if j < i), "")
                prev = read_results(msgs[i - 1]) if i else None
                ok = orig["name"] == RESPOND and reply_fits(_msg_text(orig), later, prev_user, prev)
                out[i] = {"name": RESPOND, "arguments": {"message": _msg_text(orig) if ok else None}}
        state.read(m)
    return out


RULES_MEMBERS = {"result_grounded": result_grounded, "state_tracker": state_tracker}


# --------------------------------------------------------------------------- LLM member / teacher


def turn_prompt(trace: dict, i: int, proposals: dict | None = None) -> list[dict]:
    """Conversation before turn i, plus what the tools returned right after it (if anything)."""
    tools = ", ".join(
        f"{f}({', '.join(s['required'] + [o + '?' for o in s['optional']])})" for f, s in TARGET.items()
    )
    lines = []
    for m in trace["messages"][:i]:
        call = read_call(m) if m.get("role") == "assistant" else None
        lines.append(
            f"assistant: {json.dumps(call)}"
            if call
            else f"{'tool' if read_results(m) is not None else 'user'}: {m.get('content')}"
        )
    nxt = trace["messages"][i + 1] if i + 1 < len(trace["messages"]) else None
    after = (
        f"tool results right after this turn: {nxt['content']}"
        if nxt and read_results(nxt) is not None
        else "no tool ran after this turn"
    )
    hint = f"\nCandidate labels from other annotators: {json.dumps(proposals)}" if proposals else ""
    system = (
        f"You label one assistant turn of a restaurant assistant. Tools: {tools}. Times as HH:MM (24 h), "
        'dates as YYYY-MM-DD. Answer with JSON only: {"name": ..., "arguments": {...}}.'
    )
    user = "\n".join(lines) + f"\n\n({after}){hint}\nWhat tool call should the assistant make at this turn?"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_call(text: str | None) -> dict | None:
    from tft_utils.llm.backends import parse_json_object

    obj = parse_json_object(text)
    if not obj or obj.get("name") not in TARGET or not isinstance(obj.get("arguments", {}), dict):
        return None
    allowed = set(parameters(obj["name"]))
    args = {k: str(v) for k, v in (obj.get("arguments") or {}).items() if k in allowed}
    return {"name": obj["name"], "arguments": args}


# --------------------------------------------------------------------------- the vote


def canon(v) -> str | None:
    return None if v is None else re.sub(r"\s+", " ", str(v).strip().lower())


LOGGED = "(logged)"


def vote(
    proposals: dict[str, dict | None], min_agreement: float, logged: dict | None = None
) -> tuple[dict | None, dict]:
    """Stage by stage: name, then key set, then each value. Abstentions (None) do not vote.
    `logged`, when given, is the trace's own call voting beside the members (never on a reply's text:
    whether that text fits is exactly what the members judge). E.g. members A, B and the log at
    min_agreement 0.6: A = B != log -> relabel (2/3); A = log != B -> keep (2/3); all differ -> mask.
    Returns (decided call or None, per-stage agreement shares)."""
    stats = {}
    live = {m: c for m, c in proposals.items() if c is not None}
    if logged is not None:
        live[LOGGED] = logged
    names = Counter(c["name"] for c in live.values())
    if not names:
        return None, {"name": 0.0}
    name, n = names.most_common(1)[0]
    stats["name"] = n / sum(names.values())
    if stats["name"] < min_agreement:
        return None, stats
    voters = {m: c for m, c in live.items() if c["name"] == name}
    keysets = Counter(frozenset(c["arguments"]) for c in voters.values())
    keys, n = keysets.most_common(1)[0]
    stats["keys"] = n / sum(keysets.values())
    if stats["keys"] < min_agreement:
        return None, stats
    args, shares = {}, []
    for k in sorted(keys):
        vals = Counter(
            canon(c["arguments"].get(k))
            for m, c in voters.items()
            if (c["arguments"].get(k) is not None or k == "message") and not (k == "message" and m == LOGGED)
        )  # a reply's text: None = "this text does not fit", a vote
        vals.pop(None, None) if k != "message" else None
        if not vals:
            return None, dict(stats, values=0.0)
        best, n = vals.most_common(1)[0]
        shares.append(n / sum(vals.values()))
        if best is None or shares[-1] < min_agreement:
            return None, dict(stats, values=min(shares))
        args[k] = next(c["arguments"][k] for c in voters.values() if canon(c["arguments"].get(k)) == best)
    stats["values"] = min(shares) if shares else 1.0
    return {"name": name, "arguments": args}, stats


def relabel_traces(
    traces: list[dict], params: dict, members: list[tuple[str, object]], teacher=None
) -> list[dict]:
    """Per assistant turn: {"dialogue_id", "turn", "original", "proposals", "final", "masked", "decision",
    "agreement"}; decision: kept | relabelled | teacher | masked."""
    rp = params["relabel"]
    ctx = ScenarioContext(traces, rp)
    by_member = {}
    for name, client in members:
        if client is None:
            if name not in RULES_MEMBERS:
                raise ValueError(
                    f"roles.committee: unknown rules algorithm '{name}' (known: {', '.join(RULES_MEMBERS)})"
                )
            by_member[name] = [RULES_MEMBERS[name](t, ctx) for t in traces]
        else:
            by_member[name] = _llm_member(traces, client)
    rows, disputed = [], []
    for k, t in enumerate(traces):
        for i, m in enumerate(t["messages"]):
            if m.get("role") != "assistant":
                continue
            props = {name: by_member[name][k].get(i) for name, _ in members}
            orig = read_call(m)
            final, agreement = vote(props, rp["min_agreement"], orig if rp["logged_vote"] else None)
            decision = "masked" if final is None else "kept" if _same(final, orig) else "relabelled"
            rows.append(
                {
                    "dialogue_id": t["dialogue_id"],
                    "turn": i,
                    "original": orig,
                    "proposals": props,
                    "final": final,
                    "masked": final is None,
                    "decision": decision,
                    "agreement": agreement,
                }
            )
            if final is None:
                disputed.append((k, len(rows) - 1))
    if teacher is not None and disputed:
        done = teacher.complete_many(
            [turn_prompt(traces[k], rows[r]["turn"], rows[r]["proposals"]) for k, r in disputed],
            stage="relabel-teacher",
            prompt_version=PROMPT_VERSION,
        )
        for (_k, r), comp in zip(disputed, done, strict=False):
            call = parse_call(comp.text) if not comp.error else None
            if call:
                rows[r].update(final=call, masked=False, decision="teacher")
    return rows


def _same(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    canon_args = lambda c: {k: canon(v) for k, v in c["arguments"].items()}  # noqa: E731
    return a["name"] == b["name"] and canon_args(a) == canon_args(b)


def _llm_member(traces: list[dict], client) -> list[dict[int, dict | None]]:
    index = [
        (k, i)
        for k, t in enumerate(traces)
        for i, m in enumerate(t["messages"])
        if m.get("role") == "assistant"
    ]
    done = client.complete_many(
        [turn_prompt(traces[k], i) for k, i in index], stage="relabel", prompt_version=PROMPT_VERSION
    )
    out: list[dict] = [{} for _ in traces]
    for (k, i), comp in zip(index, done, strict=False):
        call = parse_call(comp.text) if not comp.error else None
        if call and call["name"] == RESPOND:  # an LLM vouches for the logged text or rewrites it
            orig = read_call(traces[k]["messages"][i]) or {}
            call["arguments"]["message"] = (
                (orig.get("arguments") or {}).get("message") if orig.get("name") == RESPOND else None
            )
        out[k][i] = call  # unparseable -> None: an abstention, counted in the agreement stats
    return out
