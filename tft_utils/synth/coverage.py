"""Dialogue flows of a restaurant conversation, read from its calls, results and words (no SGD
annotations), so synthetic and real conversations can be compared flow by flow (notebook 04).

A conversation can show several flows at once:
- `search_only`: a FindRestaurants and no ReserveRestaurant;
- `search_then_reserve`: a ReserveRestaurant after a FindRestaurants;
- `several_searches`: two or more FindRestaurants;
- `reserve_without_search`: a ReserveRestaurant with no FindRestaurants before it;
- `user_declines`: the user answers an offer or a confirmation with a no ("No, make it 7 pm",
  "I don't like that place"), not counting the "no, thanks" to "anything else?";
- `no_results`: a FindRestaurants that returned nothing;
- `booking_fails`: a ReserveRestaurant that returned nothing, or whose reply says it failed.
"""

from __future__ import annotations

import re
from collections import Counter

from tft_utils.domain.calls import call_name
from tft_utils.domain.replies import _reply_claims
from tft_utils.domain.tools import FIND, RESERVE
from tft_utils.synth.lexicon import events

FLOWS = (
    "search_only",
    "search_then_reserve",
    "several_searches",
    "reserve_without_search",
    "user_declines",
    "no_results",
    "booking_fails",
)
_NO = re.compile(r"^\W*(no\b|nope|nah|not\b|actually|i don'?t|i do not|sorry|wait)", re.I)
_MORE = re.compile(r"\b(anything else|something else|anything more|further|else i can|more help)\b", re.I)
_OFFER = re.compile(r"\?|confirm|how about|what about|would you like|shall i|should i", re.I)


def flows(row: dict) -> set[str]:
    """The flows one conversation shows (see FLOWS)."""
    evs = events(row)
    names = [e["name"] for e in evs if e["kind"] == "call"]
    out = set()
    finds, reserves = names.count(FIND), names.count(RESERVE)
    if finds and not reserves:
        out.add("search_only")
    if finds and reserves and names.index(FIND) < len(names) - 1 - names[::-1].index(RESERVE):
        out.add("search_then_reserve")
    if finds >= 2:
        out.add("several_searches")
    if reserves and FIND not in names[: names.index(RESERVE)]:
        out.add("reserve_without_search")
    for i, ev in enumerate(evs):
        prev = evs[i - 1] if i else None
        if ev["kind"] == "result" and prev and prev["kind"] == "call":
            if prev["name"] == FIND and not ev["results"]:
                out.add("no_results")
            if prev["name"] == RESERVE:
                reply = evs[i + 1]["text"] if i + 1 < len(evs) and evs[i + 1]["kind"] == "say" else ""
                if not ev["results"] or _reply_claims(reply) == "failed":
                    out.add("booking_fails")
        if (
            ev["kind"] == "user"
            and prev
            and prev["kind"] == "say"
            and _OFFER.search(prev["text"])
            and not _MORE.search(prev["text"])
            and _NO.search(ev["text"])
        ):
            out.add("user_declines")
    return out


def tool_counts(row: dict) -> Counter:
    """How many times the conversation calls each tool."""
    return Counter(call_name(m) for m in row.get("messages", []) if m.get("role") == "assistant")
