"""Values a text states: the patterns that find times, dates, party sizes and prices in words, and
readers built on them (every value said, or the last one said, in the target's conventions).

Two readings, for two uses:
- `times_said` / `dates_said` / `sizes_said`: every value any of the domain's forms names (a bare
  "6:30" is 06:30 or 18:30), to check that a value was said;
- `parse_time` / `parse_date` / `parse_party` / `parse_price`: the last value said, as one call
  value ("19:30", ISO date, "2", a price enum word), reading a bare hour 1-9 as pm (SGD restaurant
  times run 10:00-21:00), to fill a call from what the user said.
"""

from __future__ import annotations

import datetime as dt
import re

from tft_utils.domain.values import (
    MONTHS,
    NUMBER_WORDS,
    NUMBERS,
    WEEKDAYS,
    date_options,
    number,
    safe_date,
    time_options,
)

NUM = r"(?:\d{1,2}|" + "|".join(NUMBER_WORDS[1:]) + r")"  # 1-12 in digits or words (and 0-99 digits)
DAYPART = r"(?: in the (?:morning|afternoon|evening|night)| at night| o['\"]clock(?: in the (?:morning|afternoon|evening))?)"
AMPM = r"(?:am|pm|a\.m\.|p\.m\.)"
_MONTHS, _WEEKDAYS = "|".join(MONTHS), "|".join(WEEKDAYS)

# Longest forms first so "half past 5 in the evening" is one {time}, not "5 in the evening" inside it.
TIME_RES = [
    re.compile(rf"\b(?:a )?(?:quarter (?:past|to)|half past) {NUM}(?:{DAYPART}| {AMPM})?", re.I),
    re.compile(rf"\b\d{{1,2}}:\d{{2}}(?: ?{AMPM}|{DAYPART})?", re.I),
    re.compile(rf"\b{NUM}(?: ?{AMPM}\b|{DAYPART})", re.I),
    re.compile(rf"\b(?:this )?(?:morning|afternoon|evening|night) {NUM}(?::\d{{2}})?\b", re.I),  # "evening 7"
]
DATE_RES = [
    re.compile(
        rf"\b(?:the )?\d{{1,2}}(?:st|nd|rd|th)? of (?:{_MONTHS}|(?:this|the) month)\b", re.I
    ),  # "11th of March"
    re.compile(rf"\b(?:{_MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?\b", re.I),
    re.compile(r"\bthe \d{1,2}(?:st|nd|rd|th)\b(?: of (?:this|the) month)?", re.I),
    re.compile(r"\b(?:the )?day after tomorrow\b", re.I),
    re.compile(rf"\b(?:(?:next|this) )?(?:{_WEEKDAYS}) (?:next|this) week\b", re.I),  # "Monday next week"
    re.compile(rf"\b(?:next|this) (?:{_WEEKDAYS})\b", re.I),
    re.compile(r"\btomorrow\b", re.I),
]
TODAY_RE = re.compile(r"\btoday\b", re.I)
PARTY_RES = [
    re.compile(
        rf"(?:(?<=\bfor )|(?<=\bfor just )|(?<=\bof )){NUM}(?![:\d])(?! ?{AMPM}\b)(?!{DAYPART})(?= (?:people|persons|person|guests|of us)\b|[ .,?!]|$)",
        re.I,
    ),
    re.compile(rf"\b{NUM}(?= (?:people|persons|person|guests|of us)\b)", re.I),  # "four of us"
]
RESERVE_WORDS = re.compile(r"\b(reserv\w*|book\w*|table)\b", re.I)  # a wish to book

# The forms a reply states a booking's details in (lower-case text).
CLOCK = r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b"
ANY_TIME = (
    r"(?:(?:half|quarter) (?:past|to) )?\b(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve)(?:[:.]\d{2})?\b(?:\s*(?:am|pm|a\.m\.|p\.m\.|o'clock|in the \w+|at night))?"
)
# "a table for 2", not "a reservation for 7:30 pm" / "for 5 pm" (a time)
SIZE = r"(?:table|reservations?|booking) for (\d+|one|two|three|four|five|six)\b(?![:.]\d|\s*(?:am|pm|a\.m|p\.m|o'clock|in the))|\b(\d+|one|two|three|four|five|six) (?:people|persons?|guests)|party of (\d+|\w+)"
DATE_PHRASE = (
    rf"day after tomorrow|\btoday\b|\btonight\b|\btomorrow\b|(?:next |this )?(?:{_WEEKDAYS})(?: next week| this week)?"
    rf"|(?:{_MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)? of (?:{_MONTHS}|this month)"
    r"|the \d{1,2}(?:st|nd|rd|th)"
)
# Price words onto the target enum, longest first ("very expensive" before "expensive").
PRICE_PATTERNS = [
    ("very expensive", r"very (expensive|pricey|high.end)|ultra|extremely expensive|luxur\w+"),
    ("inexpensive", r"inexpensive|cheap\w*|affordable|budget|low.cost|economical|not (too )?expensive"),
    ("moderate", r"moderate\w*|mid.range|average pric\w*|reasonabl\w*|medium"),
    ("expensive", r"expensive|pricey|high.end|fancy|upscale|costly"),
]


# --------------------------------------------------------------------------- every value said


def times_said(text: str) -> set[int]:
    """Minutes after midnight of every time the text names, in any form."""
    found = {t for pat in TIME_RES for m in pat.finditer(text) for t in time_options(m.group(0))}
    found |= {t for m in re.finditer(CLOCK, text, re.I) for t in time_options(m.group(0))}
    return found | {t for m in re.finditer(r"\b(noon|midnight)\b", text, re.I) for t in time_options(m[0])}


def dates_said(text: str, today: dt.date) -> set[dt.date]:
    """Every date the text names, relative to the conversation's `today`."""
    spans = [m.group(0) for pat in DATE_RES for m in pat.finditer(text)]
    spans += [m.group(0) for m in re.finditer(DATE_PHRASE, text, re.I)]
    return {d for s in spans for d in date_options(s, today)}


def sizes_said(text: str) -> set[int]:
    """Every party size the text names."""
    found = {number(m.group(0)) for pat in PARTY_RES for m in pat.finditer(text)}
    found |= {number(next(g for g in m.groups() if g)) for m in re.finditer(SIZE, text, re.I)}
    return found - {None}


# --------------------------------------------------------------------------- the last value said


def _num(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text.lower()]


def parse_time(text: str) -> str | None:
    """Last time expression in `text` as "HH:MM" (no am/pm marker: 1-9 -> pm, 10-12 as said)."""
    t = text.lower().replace("a.m.", "am").replace("p.m.", "pm")
    found = []
    for m in re.finditer(
        rf"\b(?:(half past|quarter past|quarter to) )?({NUM})(?::(\d{{2}}))?"
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
    for m in re.finditer(rf"\b({_MONTHS}) (\d{{1,2}})(?:st|nd|rd|th)?\b", t):
        found.append((m.start(), safe_date(today.year, MONTHS.index(m.group(1)) + 1, int(m.group(2)))))
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)(?: of ({_MONTHS}|(?:this|the) month))?", t):
        month = MONTHS.index(m.group(2)) + 1 if m.group(2) in MONTHS else today.month
        found.append((m.start(), safe_date(today.year, month, int(m.group(1)))))
    for m in re.finditer(rf"\b(next|this|on) ({_WEEKDAYS})\b", t):
        ahead = (WEEKDAYS.index(m.group(2)) - today.weekday()) % 7 or 7
        found.append((m.start(), today + dt.timedelta(days=ahead)))
    found = [(p, d) for p, d in found if d]
    return max(found, key=lambda x: x[0])[1].isoformat() if found else None


def parse_party(text: str) -> str | None:
    """Last party size said, as digits ("just me" is 1)."""
    t = text.lower()
    m = None
    for m in re.finditer(  # noqa: B007 - the last match is wanted
        rf"\b(?:for|of|party of|table for) ({NUM})\b(?!:| ?(?:am|pm|o'?clock)| in the)"
        rf"|\b({NUM}) (?:people|persons|person|guests|of us|seats)\b",
        t,
    ):
        pass
    if m:
        return str(_num(m.group(1) or m.group(2)))
    if re.search(r"\bjust (me|myself)\b|\bonly me\b|\bmyself\b", t):
        return "1"
    return None


def parse_price(text: str) -> str | None:
    """The price enum word the text asks for (the first pattern that matches, longest first)."""
    for value, pattern in PRICE_PATTERNS:
        if re.search(rf"\b({pattern})\b", text, re.I):
            return value
    return None
