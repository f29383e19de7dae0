"""Grounding (STUDY §4.4): is every value a conversation states or calls with grounded in what was
said or returned before it? One check for every teacher (rules or an endpoint), used by validation.

A conversation is grounded when
- every argument of a service call comes from the user's earlier words, an earlier tool result or an
  earlier (itself grounded) call, or is the tool's default (SGD books today, for 2; today only when the
  user named no other day), after the domain's normalisation (`domain.values`: dates, times, numbers,
  cuisine and price synonyms, cities);
- every restaurant name, address, phone number, rating or price a reply states appears in an earlier
  tool result (a name may also be the user's own), and its yes/no facts (live music, alcohol) agree
  with it (`domain.replies`, the judge's reply rules: the same notion of "contradicts the tool results");
- a reply says a table is booked only after a ReserveRestaurant whose result says so, with the same
  time, date, party size and restaurant; a reply offering to book (the last one before the call)
  states the details of that pending call.

Result per conversation: `Grounding(valid, error_type, turn, message, problems)`, like the metrics'
`evaluate.metrics.Check`; `turn` is the index of the offending message, error types are
`grounding:call_value`, `grounding:reply_entity`, `grounding:reply_fact`,
`grounding:unconfirmed_booking` and `grounding:offer_details`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from tft_utils.domain.calls import read_call, read_results
from tft_utils.domain.mentions import CLOCK, DATE_PHRASE, SIZE, dates_said, sizes_said, times_said
from tft_utils.domain.replies import (
    _NEG,
    TOPIC,
    Context,
    _check_facts,
    _focus,
    _mentions,
    _unknown_names,
    booking_claim,
    booking_contradiction,
    build_context,
    count_contradiction,
    same_value,
    without_names,
)
from tft_utils.domain.tools import BOOL_SLOTS, OPTIONAL, RESERVE, RESPOND, TODAY, TODAY_ISO
from tft_utils.domain.values import (
    bool_key,
    city_key,
    cuisine_key,
    cuisine_keys,
    date_options,
    name_tokens,
    norm_text,
    number,
    price_key,
    same_name,
    time_options,
    typo,
)

CALL_VALUE = "grounding:call_value"
REPLY_ENTITY = "grounding:reply_entity"
REPLY_FACT = "grounding:reply_fact"
UNCONFIRMED_BOOKING = "grounding:unconfirmed_booking"
OFFER_DETAILS = "grounding:offer_details"
ERROR_TYPES = (CALL_VALUE, REPLY_ENTITY, REPLY_FACT, UNCONFIRMED_BOOKING, OFFER_DETAILS)


@dataclass(frozen=True)
class Problem:
    error_type: str
    turn: int  # index of the message in the conversation
    message: str


@dataclass(frozen=True)
class Grounding:
    """The check's verdict on one conversation; the first problem is summarised at the top."""

    valid: bool
    error_type: str | None = None
    turn: int | None = None
    message: str = ""
    problems: tuple[Problem, ...] = ()

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "error_type": self.error_type,
            "turn": self.turn,
            "message": self.message,
            "problems": [p.__dict__ for p in self.problems],
        }


# ---------------------------------------------------------------- the conversation as calls and words


@dataclass
class _Said:
    """What the conversation holds before a message: the user's words, results, earlier calls."""

    user: list[str]
    results: list[dict]
    calls: list[tuple[str, dict]]

    @property
    def text(self) -> str:
        return " ".join(self.user)


def _grams(text: str, n: int = 4) -> set[str]:
    """Word n-grams of the user's words, in two tokenisations: with and without inner punctuation
    ("low-cost", "san fran.make it")."""
    out = set()
    for words in (re.findall(r"[a-z0-9&'\-]+", norm_text(text)), list(name_tokens(text))):
        out |= {" ".join(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)}
    return out


def _polarities(pattern: str, text: str) -> set[bool]:
    """Whether the user asks for a feature (True) or against it (False: "no alcohol", "doesn't
    need live music"), from the words just before each mention."""
    out = set()
    for m in re.finditer(rf"\b(?:{pattern})", text, re.I):
        before = re.split(r"[.,;!?]|\b(?:and|but|or)\b", text[max(0, m.start() - 40) : m.start()])[-1]
        out.add(not re.search(_NEG, " ".join(before.split()[-4:]), re.I))
    return out


def user_gave(slot: str, value: str, text: str, today: dt.date = TODAY) -> bool:
    """The user's words name this value, in any of the domain's forms."""
    if slot == "time":
        return bool(time_options(value) & times_said(text))
    if slot == "date":
        return bool(date_options(value, today) & dates_said(text, today))
    if slot == "party_size":
        return number(value) in sizes_said(text)
    if slot in BOOL_SLOTS:
        return (bool_key(value) == "true") in _polarities(TOPIC[slot], text)
    grams = _grams(text)
    if slot == "city":
        key = city_key(value)
        return any(city_key(g) == key or typo(city_key(g), key) for g in grams)
    if slot == "cuisine":
        return cuisine_key(value) in {k for g in grams for k in cuisine_keys(g)}
    if slot == "price_range":
        return price_key(value) in {price_key(g) for g in grams}
    if slot == "restaurant_name":
        return _mentions(text, value) or any(same_name(g, value) for g in grams if len(g) > 2)
    return norm_text(value) in norm_text(text)


def call_value_problem(name: str, args: dict, slot: str, said: _Said, ctx: Context) -> str | None:
    """Why the call's argument `slot` is not grounded (None when it is)."""
    value = str(args[slot])
    if norm_text(value) in ("dontcare", "any") and slot in OPTIONAL.get(name, {}):
        return None
    for item in [*said.results, *(args for _, args in said.calls)]:
        if slot in item and same_value(slot, item[slot], value, ctx):
            return None
    if user_gave(slot, value, said.text, TODAY):
        return None
    default = OPTIONAL.get(name, {}).get(slot)
    if default is not None and same_value(slot, default if default != "today" else TODAY_ISO, value, ctx):
        # the tool's default (SGD books today, for 2), unless the user named another day: "a table on
        # 11th of March" booked for today is a wrong booking, not an unsaid date
        if slot != "date":
            return None
        names = tuple(str(a.get("restaurant_name") or "") for a in [args, *(a for _, a in said.calls)])
        days = dates_said(without_names(said.text, ctx, names), TODAY)
        if not days:
            return None
        return f"{name}.date={value!r} is the tool's default (today), but the user asked for {min(days)}"
    return f"{name}.{slot}={value!r} was never said by the user nor returned by a tool"


# ---------------------------------------------------------------- replies

_FACT_WORDS = r"alcohol|live music"


def _stated_details(text: str, today: dt.date) -> dict[str, set]:
    low = text.lower()
    return {
        "time": set().union(*(time_options(m.group(0)) for m in re.finditer(CLOCK, low))),
        "date": set().union(*(date_options(m.group(0), today) for m in re.finditer(DATE_PHRASE, low))),
        "party_size": {number(next(g for g in m.groups() if g)) for m in re.finditer(SIZE, low)} - {None},
    }


def _details_problem(text: str, bookings: list[dict], ctx: Context, what: str) -> str | None:
    """Time, date, party size or restaurant the reply states that none of `bookings` (the call, and
    its result: SGD's result may carry the nearest free slot instead) has."""
    # a restaurant the user named, not returned by a tool ("the 3rd Cousin"), is blanked out too
    plain = without_names(text, ctx, tuple(str(b.get("restaurant_name") or "") for b in bookings))
    stated = _stated_details(plain, ctx.today)
    for slot, values in stated.items():
        wanted: set = set()
        for b in bookings:
            if slot == "time":
                wanted |= time_options(b.get("time", ""))
            elif slot == "date":
                wanted |= date_options(b.get("date") or TODAY_ISO, ctx.today)
            else:
                wanted.add(number(b.get("party_size") or "2"))
        if values and not values & wanted:
            said = ", ".join(sorted({str(b.get(slot, "default")) for b in bookings}))
            return f"states a {slot.replace('_', ' ')} other than the {what}'s ({said})"
    names = [b["restaurant_name"] for b in bookings if b.get("restaurant_name")]
    others = {
        r["restaurant_name"]
        for r in ctx.restaurants
        if not any(same_name(r["restaurant_name"], n) for n in names)
    }
    named = sorted(n for n in others if _mentions(text, n))
    if names and named and not any(_mentions(text, n) for n in names):
        return f"names {named[0]}, the {what} is for {names[0]}"
    return None


def reply_problems(text: str, ctx: Context, pending: dict | None) -> list[tuple[str, str]]:
    """(error_type, message) for one reply, given the conversation before it and, when the reply is
    the last one before a ReserveRestaurant call, that call's arguments (the booking it offers)."""
    out = []
    names = _unknown_names(text, ctx)
    if names:
        out.append((REPLY_ENTITY, f"names {names[0]!r}, which no tool result returned"))
    # the restaurant the reply is about (else any the tools returned: a phone or address must be one of theirs)
    focus = _focus(text, ctx) or {}
    verdict = _check_facts(text, focus, ctx, ctx.user_texts[-1] if ctx.user_texts else "")
    if not verdict.good:
        out.append((REPLY_FACT if re.search(_FACT_WORDS, verdict.reason) else REPLY_ENTITY, verdict.reason))
    # the judge's own rules (domain/replies.py): a booking claim against the reservation's outcome, a
    # count of results other than the search's
    claim, wrong = booking_claim(text), booking_contradiction(text, ctx)
    if wrong:
        out.append((UNCONFIRMED_BOOKING if claim == "succeeded" else REPLY_FACT, wrong))
    elif claim == "succeeded":  # booked as claimed: the reply must state that booking's details
        reserves = [(args, res) for fn, args, res in ctx.calls if fn == RESERVE]
        if not reserves or not reserves[-1][1]:  # the outcome is unclear: no result says it succeeded
            out.append((UNCONFIRMED_BOOKING, "says the table is booked, but no reservation succeeded"))
        else:
            problem = _details_problem(text, [reserves[-1][0], reserves[-1][1][0]], ctx, "booking")
            if problem:
                out.append((UNCONFIRMED_BOOKING, problem))
    wrong = count_contradiction(text, ctx)
    if wrong:
        out.append((REPLY_FACT, wrong))
    if pending is not None:
        problem = _details_problem(text, [pending], ctx, "pending reservation")
        if problem:
            out.append((OFFER_DETAILS, problem))
    return out


# ---------------------------------------------------------------- the check


def check_grounding(row: dict) -> Grounding:
    """Every problem of one conversation (a trace row: {"messages": [...]}), first one on top."""
    messages = row.get("messages") or []
    said = _Said([], [], [])
    problems: list[Problem] = []
    after_call = False
    offers = _offers(messages)
    for k, m in enumerate(messages):
        if m.get("role") == "user":
            res = read_results(m) if after_call else None
            if res is not None:
                said.results += res
            else:
                said.user.append(str(m.get("content") or ""))
            after_call = False
            continue
        call = read_call(m) if m.get("role") == "assistant" else None
        if call is None:
            continue
        name, args = call["name"], call["arguments"]
        after_call = name != RESPOND
        if name == RESPOND:
            ctx = build_context(messages[:k])
            for kind, why in reply_problems(str(args.get("message", "")), ctx, offers.get(k)):
                problems.append(Problem(kind, k, why))
            continue
        ctx = build_context(messages[:k])
        for slot in sorted(args):
            why = call_value_problem(name, args, slot, said, ctx)
            if why:
                problems.append(Problem(CALL_VALUE, k, why))
        said.calls.append((name, args))
    if not problems:
        return Grounding(True)
    first = problems[0]
    return Grounding(False, first.error_type, first.turn, first.message, tuple(problems))


def _offers(messages: list[dict]) -> dict[int, dict]:
    """reply index -> the ReserveRestaurant arguments it offers: the last reply before each
    ReserveRestaurant call (the one the user said yes to), when no other service call came between."""
    out, last_reply = {}, None
    for k, m in enumerate(messages):
        call = read_call(m) if m.get("role") == "assistant" else None
        if call is None:
            continue
        if call["name"] == RESPOND:
            last_reply = k
            continue
        if call["name"] == RESERVE and last_reply is not None:
            out[last_reply] = call["arguments"]
        last_reply = None
    return out
