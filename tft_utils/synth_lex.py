"""Words <-> slot values for the rules teacher: read a trace as events, de-lexicalise utterances
(slot values -> `{slot}` placeholders) and render values back in the many ways SGD users write them.

SGD conventions the student is scored on: calls carry `time` "13:15" (24 h), `date` "2019-03-01"
(the dataset's "today"), `party_size` "2", booleans "True"/"False"; replies say "1:15 pm", "today",
"March 13th", "2 people".
"""

from __future__ import annotations

import datetime as dt
import json
import re

RESPOND = "respond_to_user"
TODAY = dt.date(2019, 3, 1)  # SGD's "today": every default reservation date in the data
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]
NUM = r"(?:\d{1,2}|" + "|".join(NUMBER_WORDS[1:]) + r")"
DAYPART = r"(?: in the (?:morning|afternoon|evening|night)| at night| o['\"]clock(?: in the (?:morning|afternoon|evening))?)"
AMPM = r"(?:am|pm|a\.m\.|p\.m\.)"
# Longest forms first so "half past 5 in the evening" is one {time}, not "5 in the evening" inside it.
TIME_RES = [
    re.compile(rf"\b(?:a )?(?:quarter (?:past|to)|half past) {NUM}(?:{DAYPART}| {AMPM})?", re.I),
    re.compile(rf"\b\d{{1,2}}:\d{{2}}(?: ?{AMPM}|{DAYPART})?", re.I),
    re.compile(rf"\b{NUM}(?: ?{AMPM}\b|{DAYPART})", re.I),
    re.compile(rf"\b(?:this )?(?:morning|afternoon|evening|night) {NUM}(?::\d{{2}})?\b", re.I),  # "evening 7"
]
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
DATE_RES = [
    re.compile(rf"\b(?:{MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?\b", re.I),
    re.compile(r"\bthe \d{1,2}(?:st|nd|rd|th)\b(?: of (?:this|the) month)?", re.I),
    re.compile(r"\b(?:the )?day after tomorrow\b", re.I),
    re.compile(rf"\b(?:next|this) (?:{WEEKDAYS})\b", re.I),
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
COUNT_RE = re.compile(
    rf"\b{NUM}(?= (?:[\w{{}}]+ )?(?:restaurants?|places?|options?|results?|match(?:es)?)\b)", re.I
)
RESERVE_WORDS = re.compile(r"\b(reserv\w*|book\w*|table)\b", re.I)
# What a question asks about, by keyword (user asks; assistant informs).
INFO_WORDS = {
    "phone_number": re.compile(r"\b(phone|number|call them|contact)\b", re.I),
    "street_address": re.compile(r"\b(address|located|location|where (is|are) (it|they))\b", re.I),
    "has_live_music": re.compile(r"\b(live music|music|band)\b", re.I),
    "serves_alcohol": re.compile(r"\b(alcohol\w*|liquor|drinks?|booze|wine|beer|bar service)\b", re.I),
    "price_range": re.compile(r"\b(price\w*|pricey|expensive|cost\w*|cheap|afford\w*)\b", re.I),
}
NAMED_SLOTS = ("restaurant_name", "street_address", "phone_number", "city", "cuisine", "price_range")


def events(row: dict) -> list[dict]:
    """A trace as events: user / say (respond_to_user) / call / result (the user message after a call)."""
    out: list[dict] = []
    for msg in row["messages"]:
        if msg.get("role") == "user":
            if out and out[-1]["kind"] == "call":
                try:
                    results = json.loads(msg["content"])
                except (TypeError, json.JSONDecodeError):
                    results = []
                out.append({"kind": "result", "results": results if isinstance(results, list) else []})
            else:
                out.append({"kind": "user", "text": msg.get("content") or ""})
        elif msg.get("role") == "assistant" and msg.get("tool_calls"):
            fn = msg["tool_calls"][0]["function"]
            args = fn.get("arguments") or {}
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    args = {}
            if fn.get("name") == RESPOND:
                out.append({"kind": "say", "text": str(args.get("message", ""))})
            else:
                out.append({"kind": "call", "name": fn.get("name"), "args": args})
    return out


def trace_values(evs: list[dict]) -> dict[str, set[str]]:
    """Every named slot value a trace's calls and results carry (what its utterances may mention)."""
    vals: dict[str, set[str]] = {s: set() for s in NAMED_SLOTS}
    for ev in evs:
        for item in [ev["args"]] if ev["kind"] == "call" else ev.get("results", []):
            for slot in NAMED_SLOTS:
                if isinstance(item, dict) and isinstance(item.get(slot), str) and len(item[slot]) > 1:
                    vals[slot].add(item[slot])
    return vals


def _sub(pattern: re.Pattern, placeholder: str, text: str) -> str:
    return pattern.sub(placeholder, text)


def delexicalise(
    text: str, values: dict[str, set[str]], reservation_context: bool, system: bool = False
) -> str:
    """Replace slot values by `{slot}`; `values` are the named values known at this point."""
    # longest first; ties in slot order, then by value (not in set order, which follows the string hash)
    pairs = sorted(((v, s) for s, vs in values.items() for v in sorted(vs)), key=lambda p: -len(p[0]))
    for value, slot in pairs:
        text = re.sub(rf"(?<![\w{{]){re.escape(value)}(?![\w}}])", "{" + slot + "}", text, flags=re.I)
    for pat in TIME_RES:
        text = _sub(pat, "{time}", text)
    for pat in DATE_RES:
        text = _sub(pat, "{date}", text)
    if reservation_context or "{time}" in text:
        text = _sub(TODAY_RE, "{date}", text)
    for pat in PARTY_RES:
        text = pat.sub(lambda m: "{party_size_w}" if m.group(0).isalpha() else "{party_size}", text)
    if not system:  # only the assistant reports how many results a search returned
        return text
    return COUNT_RE.sub(lambda m: "{count_w}" if m.group(0).isalpha() else "{count}", text)


def placeholders(template: str) -> set[str]:
    """Slots a template mentions (`{party_size_w}` counts as party_size)."""
    return {p.removesuffix("_w") for p in re.findall(r"\{(\w+)\}", template)}


# ---- rendering values back into words ----


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def time_words(hhmm: str, style: str) -> str:
    """'17:30' -> '5:30 pm' (system style) or one of the user styles."""
    h, m = (int(x) for x in hhmm.split(":"))
    h12 = h % 12 or 12
    ampm = "am" if h < 12 else "pm"
    part = "in the morning" if h < 12 else ("in the afternoon" if h < 17 else "in the evening")
    clock = f"{h12}:{m:02d} {ampm}" if m else f"{h12} {ampm}"
    if style == "system":
        return clock
    if style == "24h":
        return hhmm
    if style == "words" and m in (15, 30):
        return f"{'half past' if m == 30 else 'quarter past'} {h12} {part}"
    if style == "words" and m == 0:
        return f"{number_word(h12) if h12 <= 12 else h12} {part}"
    if style == "short" and m == 0:
        return f"{number_word(h12)} {ampm}"
    return clock


def date_words(iso: str, style: str) -> str:
    """'2019-03-01' -> 'today'; other days: 'tomorrow', 'March 5th' or 'the 5th'."""
    day = dt.date.fromisoformat(iso)
    delta = (day - TODAY).days
    if delta == 0:
        return "today"
    if delta == 1 and style != "month":
        return "tomorrow"
    if delta == 2 and style == "relative":
        return "day after tomorrow"
    suffix = "th" if 10 <= day.day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    return f"the {day.day}{suffix}" if style == "ordinal" else f"{day.strftime('%B')} {day.day}{suffix}"


VERB_S = {"match": "es", "fit": "s", "meet": "s", "suit": "s"}  # third person singular


def fix_number_agreement(text: str) -> str:
    """'1 people' -> '1 person', '3 person' -> '3 people' after re-filling."""
    text = re.sub(r"\b(1|one) (people|persons)\b", r"\1 person", text, flags=re.I)
    text = re.sub(
        r"\b(1|one) ((?:[A-Z][\w-]* )?)(restaurant|place|option|result|match)(e?s)\b", r"\1 \2\3", text
    )
    text = re.sub(r"\b([2-9]|\d\d|two|three|four|five|six) person\b", r"\1 people", text, flags=re.I)
    text = re.sub(
        r"\b([2-9]|\d\d|two|three|four|five|six) ((?:[A-Z][\w-]* )?)(restaurant|place|option|result)\b",
        r"\1 \2\3s",
        text,
    )
    text = re.sub(r"\b([2-9]|\d\d|two|three|four|five|six) match\b", r"\1 matches", text)
    # "There are 1 restaurant that match" -> "There is 1 restaurant that matches"
    one = r"((?:1|one) (?:[A-Z][\w-]* )?(?:restaurant|place|option|result)s?)"
    text = re.sub(rf"\b([Tt]here|[Tt]hat) are {one}", r"\1 is \2", text)
    text = re.sub(
        rf"\b{one} (that|which) (match|fit|meet|suit)\b",
        lambda m: f"{m[1]} {m[2]} {m[3]}{VERB_S[m[3]]}",
        text,
    )
    many = r"((?:[2-9]|\d\d|two|three|four|five|six) (?:[A-Z][\w-]* )?(?:restaurant|place|option|result)s)"
    text = re.sub(rf"\b([Tt]here|[Tt]hat) is {many}", r"\1 are \2", text)
    text = re.sub(rf"\b{many} (that|which) (match|fit|meet|suit)e?s\b", r"\1 \2 \3", text)
    return re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a inexpensive" -> "an inexpensive"


def fill(template: str, values: dict[str, str], rng, speaker: str) -> str:
    """Render a template with this conversation's values; user wording varies, system wording is SGD's."""

    def one(match: re.Match) -> str:
        key = match.group(1)
        slot = key.removesuffix("_w")
        value = values.get(slot, "")
        if slot == "time":
            style = (
                "system"
                if speaker == "assistant"
                else rng.choice(["system", "system", "24h", "words", "short"])
            )
            return time_words(value, style)
        if slot == "date":
            style = "month" if speaker == "assistant" else rng.choice(["month", "ordinal", "relative"])
            return date_words(value, style)
        if key.endswith("_w") and str(value).isdigit():
            return number_word(int(value))
        return str(value)

    text = fix_number_agreement(re.sub(r"\{(\w+)\}", one, template))
    return re.sub(r"\bon (today|tomorrow)\b", r"\1", text)  # "on today" reads wrong
