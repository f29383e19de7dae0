"""Words <-> slot values for the rules teacher: read a trace as events, de-lexicalise utterances
(slot values -> `{slot}` placeholders) and fill templates back with values in the many ways SGD
users write them (the forms themselves: `domain.mentions` and `domain.values`).
"""

from __future__ import annotations

import re

from tft_utils.domain.calls import call_name, read_call, read_results
from tft_utils.domain.mentions import DATE_RES, NUM, PARTY_RES, TIME_RES, TODAY_RE
from tft_utils.domain.tools import RESPOND
from tft_utils.domain.values import date_words, number_word, time_words

# A number of results ("5 of those restaurants"): up to two words before the noun, as the judge's count
# rule reads them (domain.replies._COUNT), so a count left in a template is one the check would see.
COUNT_RE = re.compile(
    rf"\b{NUM}(?= (?:[\w{{}}]+ ){{0,2}}?(?:restaurants?|places?|options?|results?|match(?:es)?)\b)", re.I
)
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
                out.append({"kind": "result", "results": read_results(msg) or []})
            else:
                out.append({"kind": "user", "text": msg.get("content") or ""})
        elif msg.get("role") == "assistant" and msg.get("tool_calls"):
            call = read_call(msg) or {"name": call_name(msg), "arguments": {}}  # unreadable: no arguments
            if call["name"] == RESPOND:
                out.append({"kind": "say", "text": str(call["arguments"].get("message", ""))})
            else:
                out.append({"kind": "call", "name": call["name"], "args": call["arguments"]})
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
