"""Surface forms of the values a restaurant tool call carries, when two forms mean the same, and how
a value is written back in words.

Cuisines (synonyms and subcategories, dishes), cities, restaurant names, price ranges, booleans,
party sizes, times ("6 pm", "18:00", "evening 6", "half past 6 in the evening") and dates ("today",
"next Friday", "March 3rd", "the 3rd", ISO; relative to the conversation's date). Calls carry SGD's
conventions: `time` "13:15" (24 h), `date` "2019-03-01" (the study's today), `party_size` "2",
booleans "True"/"False"; replies say "1:15 pm", "today", "March 13th", "2 people".
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from functools import lru_cache

from tft_utils.domain.tools import PRICE_RANGES, TODAY

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
# Dishes users name instead of a cuisine, onto one catalogue cuisine (the state tracker's reading:
# used only when that cuisine is in the scenario's catalogue; CUISINES groups them for judging).
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
CITY_ALIASES = {
    "sf": "san francisco",
    "san fran": "san francisco",
    "nyc": "new york",
    "new york city": "new york",
    "la": "los angeles",
    "sfo": "san francisco",
    "sj": "san jose",
}
PRICE_WORDS = {
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
# Other services' price enum values onto the target's (Restaurants_2 says cheap / pricey / ultra
# high-end); an enum mapping, not the reading of a user's words (PRICE_WORDS).
PRICE_SYNONYMS = {
    "cheap": "inexpensive",
    "budget": "inexpensive",
    "affordable": "inexpensive",
    "pricey": "expensive",
    "ultra high-end": "very expensive",
    "high-end": "very expensive",
}
NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
NUMBERS = {w: i for i, w in enumerate(NUMBER_WORDS)}
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = "january february march april may june july august september october november december".split()


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
    return PRICE_WORDS.get(norm_text(v).replace(" range", ""), norm_text(v))


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
        return _one(safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
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
        return _one(safe_date(year + 2000 if year < 100 else year, int(slash.group(1)), int(slash.group(2))))
    if m:  # "March 3rd", "the 3rd", "3rd of this month": this month, or next when already past
        day = int(m.group(1))
        if month:
            return _one(safe_date(today.year, month, day))
        nxt = (today.replace(day=1) + dt.timedelta(32)).replace(day=1)
        return _one(safe_date(today.year, today.month, day)) | _one(safe_date(nxt.year, nxt.month, day))
    return set()


def safe_date(y: int, mo: int, d: int) -> dt.date | None:
    """The date, or None when there is no such day (February 30th)."""
    try:
        return dt.date(y, mo, d)
    except ValueError:
        return None


def _one(day: dt.date | None) -> set[dt.date]:
    return set() if day is None else {day}


# --------------------------------------------------------------------------- kinds of value

# What kind of value each result slot carries (a foreign key's values reveal its slot).
KIND_OF_SLOT = {
    "time": "time",
    "date": "date",
    "party_size": "count",
    "has_live_music": "bool",
    "serves_alcohol": "bool",
    "price_range": "price",
    "phone_number": "phone",
    "street_address": "address",
    "city": "text",
    "cuisine": "text",
    "restaurant_name": "text",
}


def value_kind(v) -> str:
    """time ("18:30"), date (ISO), count, bool, price (an enum word), phone, address or text."""
    s = str(v).strip()
    if re.fullmatch(r"\d{1,2}:\d{2}", s):
        return "time"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return "date"
    if re.fullmatch(r"\d{1,2}", s):
        return "count"
    if s in ("True", "False", "true", "false"):
        return "bool"
    if s.lower() in PRICE_RANGES or s.lower() in PRICE_SYNONYMS:
        return "price"
    if re.fullmatch(r"[+\d][\d\s().-]{6,}", s):
        return "phone"
    if re.match(r"\d+\s+\w", s):
        return "address"
    return "text"


def normalise_value(slot: str, v):
    """Enum values onto the target's spelling (price words); everything else unchanged."""
    if slot == "price_range" and isinstance(v, str):
        return PRICE_SYNONYMS.get(v.lower(), v.lower() if v.lower() in PRICE_RANGES else v)
    return v


# --------------------------------------------------------------------------- values into words


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
