"""Words -> slot values, and a dialogue-state tracker over a trace prefix (used by relabel.py).

The tracker reads only what the user said and what the tools returned before a turn; values are
written in the target's call conventions: time "19:30" (24 h), date ISO with the task's reference
"today" (the schema's default reservation date), party_size "2", price words of the target enum.
"""

from __future__ import annotations

import datetime as dt
import re

from tft_utils.domain.calls import read_call, read_results
from tft_utils.domain.mentions import RESERVE_WORDS, parse_date, parse_party, parse_price, parse_time
from tft_utils.domain.tools import FIND, RESERVE, RESPOND, parameters
from tft_utils.domain.values import DISHES

MUSIC = re.compile(r"\blive music\b|\bmusic\b|\bband\b", re.I)
ALCOHOL = re.compile(r"\balcohol\w*|\bliquor\b|\bdrinks?\b|\bwine\b|\bbeer\b|\bbooze\b|\bcocktails?\b", re.I)
FIND_INTENT = re.compile(
    r"\b(find|search|look(ing)? for|another|other|different|some place|restaurants?)\b", re.I
)
ASKING = re.compile(r"\b(do|does|is|are|can|will) (they|it|there|the (place|restaurant))\b|\?", re.I)


_PATTERNS: dict[frozenset, re.Pattern] = {}


def find_value(text: str, values: set[str]) -> str | None:
    """The longest catalogue value said in `text` (word-bounded, case-insensitive)."""
    key = frozenset(v.lower() for v in values if len(v) > 2)
    if not key:
        return None
    if key not in _PATTERNS:  # one alternation per catalogue, longest first so "San Jose" beats "San"
        alts = "|".join(re.escape(v) for v in sorted(key, key=lambda v: (-len(v), v)))
        _PATTERNS[key] = re.compile(rf"(?<![a-z])(?:{alts})(?![a-z])")
    hits = _PATTERNS[key].findall(text.lower())
    if not hits:
        return None
    best = max(hits, key=len)
    # the smallest spelling, not the first in set order (which follows the string hash)
    return min((v for v in values if v.lower() == best), default=best)


class DialogueState:
    """Slots the user asked for and results returned, read message by message up to a turn."""

    def __init__(self, cat: dict[str, set[str]], today: dt.date):
        self.cat, self.today = cat, today
        self.slots: dict[str, str] = {}
        self.intent = FIND
        self.results: list[dict] = []  # latest non-empty search results
        self.offered: str | None = None  # restaurant the assistant last named
        self.searched = False

    def read(self, msg: dict) -> None:
        if msg.get("role") == "assistant":
            call = read_call(msg)
            if call and call["name"] == RESPOND and self.results:
                name = find_value(
                    str(call["arguments"].get("message", "")),
                    {r.get("restaurant_name", "") for r in self.results},
                )
                self.offered = name or self.offered
            return
        res = read_results(msg)
        if res is not None:
            if res and "time" not in res[0]:
                self.results, self.searched = res, True
                self.offered = res[0].get("restaurant_name")
                self.slots.pop("restaurant_name", None)  # a new search: the old pick is stale
            return
        self.user(msg.get("content") or "")

    def user(self, text: str) -> None:
        s = self.slots
        city = find_value(text, self.cat["city"])
        cuisine = find_value(text, self.cat["cuisine"])
        if not cuisine:
            dish = find_value(text, set(DISHES))
            cuisine = DISHES[dish] if dish and DISHES[dish] in self.cat["cuisine"] else None
        # Intent: new search constraints -> a search; a wish to book or a time since the last results -> booking.
        if (
            (city and city != s.get("city"))
            or cuisine
            or (FIND_INTENT.search(text) and not ASKING.search(text))
        ):
            self.intent = FIND
        if RESERVE_WORDS.search(text) or (self.searched and parse_time(text)):
            self.intent = RESERVE
        if city:
            s["city"] = city
        if cuisine and cuisine.lower() != (s.get("city") or "").lower():
            s["cuisine"] = cuisine
        name = find_value(
            text, {r.get("restaurant_name", "") for r in self.results} | self.cat["restaurant_name"]
        )
        if name and name != city:
            s["restaurant_name"] = name
        for slot, value in (
            ("time", parse_time(text)),
            ("date", parse_date(text, self.today)),
            ("party_size", parse_party(text)),
            ("price_range", parse_price(text)),
        ):
            if value:
                s[slot] = value
        # A flag is a search constraint when said while searching, not when asked about a named place.
        constraint = not self.searched or not ASKING.search(text)
        if constraint and MUSIC.search(text):
            s["has_live_music"] = "True"
        if constraint and ALCOHOL.search(text):
            s["serves_alcohol"] = "True"

    def find_call(self) -> dict:
        return {"name": FIND, "arguments": {k: self.slots[k] for k in parameters(FIND) if k in self.slots}}

    def reserve_call(self, default_date: str, default_party: str) -> dict:
        s = self.slots
        name = s.get("restaurant_name") or self.offered
        city = next((r.get("city") for r in self.results if r.get("restaurant_name") == name), None) or s.get(
            "city"
        )
        args = {
            "restaurant_name": name,
            "city": city,
            "time": s.get("time"),
            "date": s.get("date", default_date),
            "party_size": s.get("party_size", default_party),
        }
        return {"name": RESERVE, "arguments": args}
