"""Words -> slot values, and a dialogue-state tracker over a trace prefix (used by relabel.py).

The tracker reads only what the user said and what the tools returned before a turn; values are
written in the target's call conventions: time "19:30" (24 h), date ISO with the task's reference
"today" (the schema's default reservation date), party_size "2", price words of the target enum.
"""

from __future__ import annotations

import datetime as dt
import re

from tft_utils.align import RESPOND, read_call, read_results

NUMBERS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
NUM = r"(\d{1,2}|" + "|".join(list(NUMBERS)[1:]) + r")"
MONTHS = "january february march april may june july august september october november december".split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
PRICE_WORDS = [  # longest first: "very expensive" before "expensive"
    ("very expensive", r"very (expensive|pricey|high.end)|ultra|extremely expensive|luxur\w+"),
    ("inexpensive", r"inexpensive|cheap\w*|affordable|budget|low.cost|economical|not (too )?expensive"),
    ("moderate", r"moderate\w*|mid.range|average pric\w*|reasonabl\w*|medium"),
    ("expensive", r"expensive|pricey|high.end|fancy|upscale|costly"),
]
MUSIC = re.compile(r"\blive music\b|\bmusic\b|\bband\b", re.I)
ALCOHOL = re.compile(r"\balcohol\w*|\bliquor\b|\bdrinks?\b|\bwine\b|\bbeer\b|\bbooze\b|\bcocktails?\b", re.I)
RESERVE_INTENT = re.compile(r"\b(reserv\w*|book\w*|table)\b", re.I)
FIND_INTENT = re.compile(
    r"\b(find|search|look(ing)? for|another|other|different|some place|restaurants?)\b", re.I
)
# Dishes users name instead of a cuisine (world knowledge; used only if the cuisine is in the catalogue).
DISHES = {
    "sushi": "Japanese",
    "ramen": "Japanese",
    "pizza": "Italian",
    "pasta": "Italian",
    "taco": "Mexican",
    "tacos": "Mexican",
    "burrito": "Mexican",
    "burritos": "Mexican",
    "curry": "Indian",
    "fish": "Seafood",
    "burger": "American",
    "burgers": "American",
    "dim sum": "Chinese",
    "noodles": "Asian",
    "pho": "Vietnamese",
}
ASKING = re.compile(r"\b(do|does|is|are|can|will) (they|it|there|the (place|restaurant))\b|\?", re.I)


def _num(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text.lower()]


def parse_time(text: str) -> str | None:
    """Last time expression in `text` as "HH:MM" (no am/pm marker: 1-9 -> pm, 10-12 as said)."""
    t = text.lower().replace("a.m.", "am").replace("p.m.", "pm")
    found = []
    for m in re.finditer(
        rf"\b(?:(half past|quarter past|quarter to) )?{NUM}(?::(\d{{2}}))?"
        r"( ?(?:am|pm)\b| o'?clock| in the (?:morning|afternoon|evening)| at night| ?noon)?",
        t,
    ):
        lead, hour, minute, tail = m.group(1), m.group(2), m.group(3), (m.group(4) or "").strip()
        if not (lead or minute or tail):
            continue  # a bare number is a count, not a time
        h, mi = _num(hour), int(minute or 0)
        if h > 12 or mi > 59:
            continue
        if lead == "half past":
            mi = 30
        elif lead == "quarter past":
            mi = 15
        elif lead == "quarter to":
            h, mi = h - 1, 45
        if "pm" in tail or "afternoon" in tail or "evening" in tail or "night" in tail:
            h = h + 12 if h < 12 else h
        elif "am" in tail or "morning" in tail:
            h = 0 if h == 12 else h
        elif h <= 9:
            h += 12  # SGD restaurant times run 10:00-21:00: "at 7" is evening
        found.append((m.start(), f"{h:02d}:{mi:02d}"))
    if re.search(r"\bnoon\b|\bmidday\b", t):
        found.append((t.rfind("noon"), "12:00"))
    return max(found)[1] if found else None


def parse_date(text: str, today: dt.date) -> str | None:
    """Last date expression as ISO, relative to the task's reference day."""
    t = text.lower()
    found = []
    for m in re.finditer(r"\b(day after tomorrow|tomorrow|today|tonight)\b", t):
        off = {"day after tomorrow": 2, "tomorrow": 1}.get(m.group(1), 0)
        if m.group(1) == "tomorrow" and t[max(0, m.start() - 10) : m.start()].endswith("after "):
            continue
        found.append((m.start(), today + dt.timedelta(days=off)))
    for m in re.finditer(rf"\b({'|'.join(MONTHS)}) (\d{{1,2}})(?:st|nd|rd|th)?\b", t):
        found.append((m.start(), _safe_date(today.year, MONTHS.index(m.group(1)) + 1, int(m.group(2)))))
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)(?: of ({'|'.join(MONTHS)}|(?:this|the) month))?", t):
        month = MONTHS.index(m.group(2)) + 1 if m.group(2) in MONTHS else today.month
        found.append((m.start(), _safe_date(today.year, month, int(m.group(1)))))
    for m in re.finditer(rf"\b(next|this|on) ({'|'.join(WEEKDAYS)})\b", t):
        ahead = (WEEKDAYS.index(m.group(2)) - today.weekday()) % 7 or 7
        found.append((m.start(), today + dt.timedelta(days=ahead)))
    found = [(p, d) for p, d in found if d]
    return max(found, key=lambda x: x[0])[1].isoformat() if found else None


def _safe_date(y: int, mo: int, d: int):
    try:
        return dt.date(y, mo, d)
    except ValueError:
        return None


def parse_party(text: str) -> str | None:
    t = text.lower()
    m = None
    for m in re.finditer(  # noqa: B007 - the last match is wanted
        rf"\b(?:for|of|party of|table for) {NUM}\b(?!:| ?(?:am|pm|o'?clock)| in the)"
        rf"|\b{NUM} (?:people|persons|person|guests|of us|seats)\b",
        t,
    ):
        pass
    if m:
        return str(_num(m.group(1) or m.group(2)))
    if re.search(r"\bjust (me|myself)\b|\bonly me\b|\bmyself\b", t):
        return "1"
    return None


def parse_price(text: str) -> str | None:
    for value, pattern in PRICE_WORDS:
        if re.search(rf"\b({pattern})\b", text, re.I):
            return value
    return None


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
        self.intent = "FindRestaurants"
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
            self.intent = "FindRestaurants"
        if RESERVE_INTENT.search(text) or (self.searched and parse_time(text)):
            self.intent = "ReserveRestaurant"
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
        keys = ("city", "cuisine", "price_range", "has_live_music", "serves_alcohol")
        return {"name": "FindRestaurants", "arguments": {k: self.slots[k] for k in keys if k in self.slots}}

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
        return {"name": "ReserveRestaurant", "arguments": args}
