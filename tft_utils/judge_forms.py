"""Surface forms of the values a restaurant tool call carries, and when two forms mean the same.

Cuisines (synonyms and subcategories), cities, restaurant names, price ranges, booleans, party
sizes, times ("6 pm", "18:00", "evening 6", "half past 6 in the evening") and dates ("today",
"next Friday", "March 3rd", "the 3rd", ISO; relative to the conversation's date). Used by the
rubric judge (tft_utils/judge.py).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from functools import lru_cache

# Built from the SGD Restaurants cuisine values and the user phrasings the dialogues map onto them
# (user state values vs. the service call's value: "Izakaya" -> Japanese, "Punjabi" -> Indian), plus
# their common names. Values in one group name the same intent.
CUISINES = {
    "japanese": "sushi|ramen|izakaya|shabu-shabu|shabu shabu|teriyaki|udon",
    "chinese": "sichuan|szechuan|szechwan|szcheuan|taiwanese|cantonese|dumplings|noodles|dim sum|hunan",
    "indian": "curry|punjabi|spicy indian|south indian|north indian|tandoori",
    "italian": "pizza|pasta|pizza and pasta|pizzeria|trattoria",
    "american": "burger|burgers|barbecue|bbq|diner|southern|hamburgers",
    "mexican": "tacos|taco|burrito|burritos|latin american|tex-mex",
    "seafood": "fish|freshwater fish|lobster",
    "asian": "asian fusion|oriental|pan-asian|pan asian",
    "take-out": "takeout|take out|to-go|to go|pick-up|pickup|quick meal",
    "vegetarian": "veggie|non meat|vegan|meatless",
    "mediterranean": "middle eastern|persian|greek",
    "french": "parisian",
    "gastropub": "gastrobar|pub",
    "coffeehouse": "cafe|coffee|coffee shop",
    "brunch": "breakfast|breakfast & brunch|breakfast and brunch|light meal",
    "korean": "korean barbeque|korean bbq",
    "steakhouse": "steak|steaks",
}
CUISINE_INDEX = {a: canon for canon, al in CUISINES.items() for a in [canon, *al.split("|")]}
# What the SGD dialogues file some user words under besides their own group: "burgers" searched as
# Steakhouse or Sandwich, "Cambodian" as Thai or Vietnamese (a call with that cuisine is what they asked).
CUISINE_ALSO = {
    "burger": "steakhouse|sandwich",
    "burgers": "steakhouse|sandwich",
    "cambodian": "thai|vietnamese",
    "malaysian": "thai",
    "spicy noodles": "thai",
}
CITY_ALIASES = {
    "sf": "san francisco",
    "san fran": "san francisco",
    "nyc": "new york",
    "new york city": "new york",
    "la": "los angeles",
    "sfo": "san francisco",
    "sj": "san jose",
}
PRICES = {
    "inexpensive": "inexpensive",
    "cheap": "inexpensive",
    "budget": "inexpensive",
    "low": "inexpensive",
    "low cost": "inexpensive",
    "low-cost": "inexpensive",
    "low priced": "inexpensive",
    "cheaper": "inexpensive",
    "budget friendly": "inexpensive",
    "moderate": "moderate",
    "moderately priced": "moderate",
    "mid": "moderate",
    "medium": "moderate",
    "average": "moderate",
    "average priced": "moderate",
    "affordable": "moderate",
    "afforadable": "moderate",  # sic: SGD users' spelling
    "economical": "moderate",
    "intermediate": "moderate",
    "intermediate priced": "moderate",
    "reasonable": "moderate",
    "reasonably priced": "moderate",
    "not very costly": "moderate",
    "not too expensive": "moderate",
    "expensive": "expensive",
    "pricey": "expensive",
    "high": "expensive",
    "high-end": "expensive",
    "upscale": "expensive",
    "costly": "expensive",
    "fancy": "expensive",
    "above average": "expensive",
    "very expensive": "very expensive",
    "ultra high-end": "very expensive",
    "extravagant": "very expensive",
    "luxury": "very expensive",
}
NUMBERS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = "january february march april may june july august september october november december".split()


# SGD schema: optional parameters and their defaults ("today" is resolved per conversation).
def norm_text(v) -> str:
    return " ".join(str(v).lower().replace("_", " ").split())


def cuisine_key(v) -> str:
    s = norm_text(re.sub(r"(?i)\b(food|cuisine|restaurants?|style)\b", " ", str(v)))
    return CUISINE_INDEX.get(s, s)


def cuisine_keys(v) -> set[str]:
    """Every service category a user's phrase may stand for (its group, and CUISINE_ALSO)."""
    s = norm_text(re.sub(r"(?i)\b(food|cuisine|restaurants?|style)\b", " ", str(v)))
    return {cuisine_key(v), *CUISINE_ALSO.get(s, "").split("|")} - {""}


def city_key(v) -> str:
    s = re.sub(r",?\s*(ca|california|usa)\.?$", "", norm_text(v)).replace(".", "").strip()
    return CITY_ALIASES.get(s, s)


@lru_cache(maxsize=65536)
def name_tokens(v) -> tuple[str, ...]:
    s = norm_text(v).replace("&", " and ").replace("'s", "s")
    return tuple(t for t in re.split(r"[^a-z0-9]+", s) if t and t not in ("the", "restaurant"))


def same_name(a, b) -> bool:
    """Restaurant names: punctuation, case, "the"/"restaurant" ignored; a shortened name is fine."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return ta == tb
    if ta == tb or "".join(ta) == "".join(tb):
        return True
    short, long_ = sorted((ta, tb), key=len)
    return (short[0] == long_[0] and set(short) <= set(long_)) or typo(" ".join(ta), " ".join(tb))


def typo(a: str, b: str) -> bool:
    """A misspelling of the same name ("San Fransisco"): 88% of characters in common, same start.
    ("South San Francisco" vs "San Francisco" is 81%: a different city.)"""
    return len(a) >= 5 and a[:1] == b[:1] and difflib.SequenceMatcher(None, a, b).ratio() >= 0.88


def price_key(v) -> str:
    return PRICES.get(norm_text(v).replace(" range", ""), norm_text(v))


def bool_key(v) -> str:
    s = norm_text(v)
    return {"true": "true", "yes": "true", "1": "true", "false": "false", "no": "false", "0": "false"}.get(
        s, s
    )


def number(v) -> int | None:
    m = re.search(r"\d+", str(v))
    if m:
        return int(m.group())
    words = [NUMBERS[w] for w in re.findall(r"[a-z]+", norm_text(v)) if w in NUMBERS]
    return words[0] if words else None


@lru_cache(maxsize=65536)
def time_options(v) -> frozenset[int]:
    """Minutes after midnight this time form can mean ("6:30" without am/pm: 06:30 or 18:30)."""
    return frozenset(_time_options(v))


def _time_options(v) -> set[int]:
    s = norm_text(v).replace("o'clock", "").replace('o"clock', "")
    if re.search(r"\bnoon\b", s):  # not "afternoon"
        return {720}
    if re.search(r"\bmidnight\b", s):
        return {0}
    for word, n in NUMBERS.items():
        s = re.sub(rf"\b{word}\b", str(n), s)
    m = re.search(r"(half|quarter) (past|to) (\d{1,2})", s)
    if m:
        h = int(m.group(3)) - (m.group(2) == "to")
        minute = 30 if m.group(1) == "half" else (15 if m.group(2) == "past" else 45)
    else:
        m = re.search(r"(\d{1,2})(?:[:.h](\d{2}))?", s)
        if not m:
            return set()
        h, minute = int(m.group(1)), int(m.group(2) or 0)
    pm = re.search(r"\bp\.?m\b|afternoon|evening|night|tonight", s)
    am = re.search(r"\ba\.?m\b|morning", s)
    if pm and h < 12:
        h += 12
    elif am and h == 12:
        h = 0
    if pm or am or h > 12 or h == 0 or (m.group(0).startswith("0") and not m.group(0).startswith("0:")):
        return {h % 24 * 60 + minute}
    return {h * 60 + minute, (h + 12) % 24 * 60 + minute}


@lru_cache(maxsize=65536)
def date_options(v, today: dt.date) -> frozenset[dt.date]:
    """Dates this form can mean, relative to the conversation's `today`."""
    return frozenset(_date_options(v, today))


def _date_options(v, today: dt.date) -> set[dt.date]:
    s = norm_text(v)
    m = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if m:
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if "day after tomorrow" in s:
        return {today + dt.timedelta(2)}
    if "tomorrow" in s:
        return {today + dt.timedelta(1)}
    if re.search(r"\btoday\b|\btonight\b|this evening", s) or s == "dontcare":
        return {today}
    for i, day in enumerate(WEEKDAYS):
        if day in s or re.search(rf"\b{day[:3]}\b", s):  # "next Friday": any such day in 2 weeks
            return {today + dt.timedelta(k) for k in range(14) if (today + dt.timedelta(k)).weekday() == i}
    month = next((i + 1 for i, mo in enumerate(MONTHS) if re.search(rf"\b{mo[:3]}", s)), None)
    m = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", s)
    slash = re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", s)
    if slash:
        year = int(slash.group(3)) if slash.group(3) else today.year
        return _safe_date(year + 2000 if year < 100 else year, int(slash.group(1)), int(slash.group(2)))
    if m:  # "March 3rd", "the 3rd", "3rd of this month": this month, or next when already past
        day = int(m.group(1))
        if month:
            return _safe_date(today.year, month, day)
        nxt = (today.replace(day=1) + dt.timedelta(32)).replace(day=1)
        return _safe_date(today.year, today.month, day) | _safe_date(nxt.year, nxt.month, day)
    return set()


def _safe_date(y: int, mo: int, d: int) -> set[dt.date]:
    try:
        return {dt.date(y, mo, d)}
    except ValueError:
        return set()
