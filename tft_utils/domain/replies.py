"""How a restaurant conversation is read, for judging a reply or checking that it is grounded: the
context of a turn (its service calls with their results, what the user and the assistant said, the
conversation's "today"), when two slot values name the same entity (`same_value`), and what a reply
claims and whether it contradicts the conversation (`judge_reply`):

- a `respond_to_user` is good at any level of detail unless it contradicts the conversation: the
  tool results (alcohol, live music, price, address, phone, rating, counts, a restaurant no result
  returned, a booking that failed or was never made), booking details nobody asked for, a question
  of the user's that the gold reply answers and it ignores, or a goodbye while the user still
  wants something;
- what a reply says of a booking (`booking_claim`: a confirmation request is no claim).

One set of rules, below every stage that applies them: the rubric judge
(tft_utils/evaluate/judge/rubric.py), the grounding check (tft_utils/synth/grounding.py), validation
(tft_utils/synth/validate.py) and the rules teacher's template bank (tft_utils/synth/rules.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import cached_property

from tft_utils.domain.calls import read_call, read_results
from tft_utils.domain.mentions import ANY_TIME, CLOCK, DATE_PHRASE, SIZE
from tft_utils.domain.tools import (
    BOOKING_DETAILS,
    BOOL_SLOTS,
    FIND,
    RESERVE,
    RESPOND,
    TODAY_ISO,
)
from tft_utils.domain.values import (
    CUISINE_INDEX,
    MONTHS,
    NUMBERS,
    PRICE_WORDS,
    WEEKDAYS,
    bool_key,
    city_key,
    cuisine_key,
    date_options,
    name_tokens,
    norm_text,
    number,
    price_key,
    same_name,
    time_options,
    typo,
)


@dataclass(frozen=True)
class Verdict:
    good: bool | None  # None only for an LLM verdict that could not be parsed
    reason: str


# --------------------------------------------------------------------------- parameters

# Filters a user states in words; without them in the conversation a missing one is no error.
TOPIC = {
    "has_live_music": r"music|band|live|entertain",
    "serves_alcohol": r"alcohol|liquor|booze|drink|wine|beer|bar\b",
    "price_range": r"cheap|expensive|pric|cost|budget|moderate|afford|high.end|fancy",
}


# --------------------------------------------------------------------------- the conversation


@dataclass
class Context:
    """What the judge needs from the question: service calls with their results, texts, today."""

    messages: list[dict]
    calls: list[tuple[str, dict, list]]  # (name, arguments, results) of each service call
    user_texts: list[str]
    assistant_texts: list[str]
    today: dt.date

    @cached_property
    def restaurants(self) -> list[dict]:
        return [
            r for _, _, res in self.calls for r in res if isinstance(r, dict) and r.get("restaurant_name")
        ]

    @cached_property
    def all_text(self) -> str:
        return " ".join(self.user_texts + self.assistant_texts + [json.dumps(c[1:]) for c in self.calls])

    @cached_property
    def all_tokens(self) -> set[str]:
        return set(name_tokens(self.all_text))


def build_context(messages: list[dict], default_today: str = TODAY_ISO) -> Context:
    calls, users, replies = [], [], []
    pending = None  # a service call waiting for its result message
    for m in messages:
        call = read_call(m) if m.get("role") == "assistant" else None
        if call and call["name"] == RESPOND:
            replies.append(str(call["arguments"].get("message", "")))
        elif call:
            pending = (call["name"], call["arguments"], [])
            calls.append(pending)
        elif m.get("role") == "user" and pending is not None:
            res = read_results(m)  # the result message right after a service call
            if res is not None:
                calls[-1] = (pending[0], pending[1], res)
                pending = None
                continue
            users.append(str(m.get("content") or ""))
            pending = None
        elif m.get("role") == "user":
            users.append(str(m.get("content") or ""))
    return Context(messages, calls, users, replies, _infer_today(messages, default_today))


def _infer_today(messages: list[dict], default: str) -> dt.date:
    """A booking's date plus what the user called it ("today", "tomorrow") reveals the day."""
    said = ""
    for m in messages:
        if m.get("role") == "user" and not str(m.get("content", "")).startswith("["):
            said = norm_text(m.get("content", ""))
        call = read_call(m) if m.get("role") == "assistant" else None
        if (
            call
            and call["name"] == RESERVE
            and re.match(r"\d{4}-\d\d-\d\d$", str(call["arguments"].get("date")))
        ):
            day = dt.date.fromisoformat(call["arguments"]["date"])
            for word, back in (("day after tomorrow", 2), ("tomorrow", 1), ("today", 0), ("tonight", 0)):
                if word in said:
                    return day - dt.timedelta(back)
    return dt.date.fromisoformat(default)


# --------------------------------------------------------------------------- service calls


def same_value(key: str, gold, pred, ctx: Context) -> bool:
    if key == "cuisine":
        return cuisine_key(gold) == cuisine_key(pred)
    if key == "city":
        return city_key(gold) == city_key(pred) or typo(city_key(gold), city_key(pred))
    if key == "restaurant_name":
        return same_name(gold, pred)
    if key == "price_range":
        return price_key(gold) == price_key(pred)
    if key in BOOL_SLOTS:
        return bool_key(gold) == bool_key(pred)
    if key in ("party_size", "number_of_seats"):
        return number(gold) is not None and number(gold) == number(pred)
    if key == "time":
        return bool(time_options(gold) & time_options(pred))
    if key == "date":
        return bool(date_options(gold, ctx.today) & date_options(pred, ctx.today))
    return norm_text(gold) == norm_text(pred)


# --------------------------------------------------------------------------- replies

_NEG = r"\b(not|no|nope|never|without|neither|nor|none)\b|n't\b"
_ALCOHOL = r"alcohol|liquor|booze|wine|beer|cocktail|spirits"
_MUSIC = r"live music|music|live band|band|entertainment"
_REQUEST = r"\bconfirm\b|kindly ensure|\bverify\b|is (that|this) (correct|right)|shall i|should i|would you like|do you want"
_SUCCESS = (
    r"\b(reservation|booking|table|reserved)\b[^.!?]*\b(is|has been|was|have been|are)\s+(now\s+)?"
    r"(confirmed|successful|success|made|booked|reserved|complete|completed|done|set|placed)"
    r"|success|\b(i|we)('ve| have)?\s+(booked|reserved|made|placed|finished)|all set|is booked|been booked"
    r"|you('re| are) (confirmed|booked)|booked (you|your|a table)|\ball booked\b(?! up)"
)
_FAILURE = (
    r"(could not|couldn't|can't|cannot|unable|wasn't able|was not able|not able|failed|unsuccessful"
    r"|not possible)[^.!?]*(book|reserv|table)|(booking|reservation)[^.!?]*(fail|unsuccessful|not (be )?"
    r"(made|possible|confirmed|successful))|no (tables?|availability|openings?|seats)|\bfully booked|(are|were|'re) all booked"
    r"|all booked up"
)
_COUNT = (
    r"\b(?:found|are|have|is|of|see|got|returned)\s+(\d+|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?:[a-z]+\s+){0,2}?"
    r"(restaurants?|places?|options?|results?|matches|eateries|spots)\b"
)
_NONE_FOUND = r"\b(no|couldn't find any|could not find any|zero|0) (restaurants?|results?|places?|matches)\b"
_ADDRESS = (
    r"\b(\d{1,6})\s+((?:[a-z0-9.'-]+\s+){0,4}?)(street|st|avenue|ave|road|rd|boulevard|blvd|drive|dr"
    r"|way|lane|ln|court|ct|place|pl|plaza|square|highway|hwy|parkway|pkwy|alley|terrace|circle|real"
    r"|center|centre|mall|row|loop|walk|broadway|expressway)\b"
)
# between the number and the street kind: a street's name, not "1 place" (a count), "2 at Broadway"
_NOT_STREET = {"at", "for", "in", "on", "of", "to", "and", "is", "are", "was", "their", "its"}
_NOT_STREET |= {"people", "persons", "person", "guests", "pm", "am", "restaurants", "places", "options"}


def street_addresses(message: str) -> list[re.Match]:
    """Street addresses a message states ("1441 Polk Street", "16 Broadway")."""
    out = []
    for m in re.finditer(_ADDRESS, message.lower()):
        words = m.group(2).split()
        in_phone = m.start() > 0 and message[m.start() - 1] in "-.)("  # "650-925-6810 The street ..."
        if (words or m.group(3) == "broadway") and not _NOT_STREET & set(words) and not in_phone:
            out.append(m)
    return out


_PHONE = r"\(?\b(\d{3})\)?[-. ]?(\d{3})[-. ](\d{4})\b"
_OFF_DOMAIN = r"\b(hotels?|motels?|check-?in|check-?out|flights?|airlines?|movies?|cinema|bus|trains?|rental car|apartments?|dentist|doctor|salon|stylist)\b"
_NAME_BEFORE = r"\b(?i:how about|what about|maybe|recommend|suggest|called|named|try|at|there's|there is|enjoy)\s+(?i:also\s+)?(?:the\s+)?"
_CAP_RUN = r"([A-Z0-9][\w'&-]*(?:\s+(?:of|and|&|de|la|y|[A-Z0-9][\w'&-]*))*)"
_GENERIC = {"and", "of", "bar", "grill", "cafe", "kitchen", "house", "bistro", "co", "de", "la", "y"}
_NOT_NAMES = set(
    WEEKDAYS
    + MONTHS
    + list(CUISINE_INDEX)
    + "i it its they their there this that today tomorrow yes no "
    "sorry okay ok please great sure am pm a an the next which what here he she one another mine your".split()
)


def _clauses(message: str) -> list[str]:
    """Statement clauses (questions and confirmation requests are not claims)."""
    out = []
    for sent in re.split(r"(?<=[.!?])\s+", message.strip()):
        if sent.endswith("?") or re.search(_REQUEST, sent, re.I):
            continue
        out += [
            c.strip()
            for c in re.split(r"[,;:]|\b(?:but|however|although|though|while)\b", sent, flags=re.I)
            if c and c.strip()
        ]
    return out


def _polarity_claims(message: str, pattern: str, last_user: str) -> set[bool]:
    """{True}/{False} when the reply states the feature is (not) there; bare "yes"/"no" answers
    take their topic from the user's question."""
    claims = set()
    for clause in _clauses(message):
        m = re.search(pattern, clause, re.I)
        if m and not re.search(r"not sure|don't know|no information|whether|\bif\b", clause, re.I):
            # "they don't serve alcohol", "alcohol is not served"; "music and no alcohol" splits at "and"
            after = re.split(r"\b(?:and|or)\b", clause[m.end() :])[0]
            claims.add(not re.search(_NEG, clause[: m.start()] + " " + after, re.I))
    if (
        not claims
        and re.search(pattern, last_user, re.I)
        and not re.search(_ALCOHOL + "|" + _MUSIC, message, re.I)
    ):
        if re.match(
            r"\s*(no\b(?! problem| worries)|nope|they do not|they don't|unfortunately not)", message, re.I
        ):
            claims.add(False)
        elif re.match(r"\s*(yes|yeah|yep|they do\b(?! not))", message, re.I):
            claims.add(True)
    return claims


def _focus(message: str, ctx: Context) -> dict | None:
    """The restaurant a reply talks about: named in it, else the last one named before it."""
    rests = ctx.restaurants
    for text in [message, *reversed(ctx.assistant_texts + ctx.user_texts[-1:])]:
        named = [r for r in rests if _mentions(text, r["restaurant_name"])]
        if named:  # the most specific name ("Beijing Wasabi Sushi" over "Beijing Restaurant"), then the last
            return max(reversed(named), key=lambda r: len(name_tokens(r["restaurant_name"])))
    last = ctx.calls[-1][2] if ctx.calls else []
    return last[0] if len(last) == 1 and isinstance(last[0], dict) else None


def _mentions(text: str, name: str) -> bool:
    toks, name_t = name_tokens(text), name_tokens(name)
    n = len(name_t)
    return n > 0 and any(toks[i : i + n] == name_t for i in range(len(toks) - n + 1))


def without_names(message: str, ctx: Context, also: tuple[str, ...] = ()) -> str:
    """The message with every restaurant name the tools returned (and those in `also`: names a user
    gave a call) blanked out (a name's words, "Wine Bar", "3rd Cousin", are not claims about alcohol or
    dates)."""
    known = {r["restaurant_name"] for r in ctx.restaurants} | {n for n in also if n}
    # longest last (replaced first); ties by name, not in set order (that follows the string hash)
    names = sorted({n for n in known if len(n) > 2}, key=lambda n: (len(n), n))
    for n in reversed(names):
        message = re.sub(rf"(?i)(?<!\w){re.escape(n)}(?!\w)", "the restaurant", message)
    return message


def _booking_status(ctx: Context) -> str:
    """none | failed (no result) | succeeded | unclear: SGD answers a slot it cannot book with the
    nearest free one, so a result whose time/date/size differs from the request may be either."""
    reserves = [(args, res) for fn, args, res in ctx.calls if fn == RESERVE]
    if not reserves:
        return "none"
    args, res = reserves[-1]
    if not res or not isinstance(res[0], dict):
        return "failed"
    for key in BOOKING_DETAILS:
        if key in args and key in res[0] and not same_value(key, args[key], res[0][key], ctx):
            return "unclear"
    return "succeeded"


def _unknown_names(message: str, ctx: Context) -> list[str]:
    known = ctx.all_tokens
    out = []
    after = re.finditer(_NAME_BEFORE + _CAP_RUN, message)  # "how about X", "called X", "at X"
    before = re.finditer(
        _CAP_RUN + r"\s+(?:is|would be)\s+(?:also\s+)?(?:a|an|one)\b", message
    )  # "X is a nice ..."
    for m in [*after, *before]:
        cand = m.group(1).strip(" .'")
        toks = name_tokens(cand)
        if (
            not toks
            or all(t in _NOT_NAMES or t.isdigit() for t in toks)
            or time_options(cand)
            and toks[0].isdigit()
        ):
            continue
        # The user may shorten a name ("Katsu" for "Katsu Los Gatos"): its first distinctive word will do.
        content = [t for t in toks if t not in _GENERIC]
        if content and content[0] not in known:
            if not any(same_name(cand, r["restaurant_name"]) for r in ctx.restaurants):
                out.append(cand)
    return out


_CLOSING = (
    r"^\W*(ok(ay)?|great|sure|no problem|you're welcome|glad to help|thanks?( you)?)?\W*((have|enjoy) (a|an|your|the)"
    r"|good ?bye|bye|take care)|\b(anything|something) ?(else|more|further)\b|help you with anything|"
    r"assist you with anything|anything i can|else i can"
)
_OPENER = r"how (can|may|could) i (help|assist)|what can i (do|help)|how can i be of"
# What a reply asks the user for, and where the conversation already holds it (earlier calls).
_SLOT_QUESTIONS = {
    "city": r"which city|what city|where|area|location",
    "cuisine": r"(kind|type) of (food|cuisine)|cuisine|what food",
    "time": r"what time|which time|\bwhen\b",
    "date": r"what date|which date|which day|what day",
}
_DONE = r"\b(thanks?|thank you|no\b|nope|that's all|that is all|bye|nothing|all set|i'm good|that will be all|that'?s it)"
_ASKS = r"\b(what|which|where|when|how|type|kind|cuisine|city|time|make|book|reserve|find|change|want|need|like)\b|\?"
_YES_NO = r"^\W*(yes|yeah|yep|yup|no|nope|sorry|unfortunately|they (do|don't|do not|have|serve))\b"
# topic: (how the user asks about it, how a reply answers it)
_TOPICS = {
    "phone": (r"phone|number|contact|call", _PHONE + r"|phone|number|reach them"),
    "address": (r"address|located|location|where is", r"address|located|location|\b\d+ \w+"),
    "price": (r"pric|cost|expensive|cheap|afford", r"pric|cost|expensive|cheap|moderate|range|afford|budget"),
    "live music": (_MUSIC, _MUSIC + "|" + _YES_NO),
    "alcohol": (_ALCOHOL, _ALCOHOL + "|" + _YES_NO),
}


def _closing(text: str) -> bool:
    sents = [x for x in re.split(r"(?<=[.!?])\s+", text.strip()) if x.strip()]
    not_closing = r"\b(what|which|where|when|type|kind|or anything)\b"
    pleasantry = r"^\W*(ok(ay)?|great|sure|no problem|you're welcome|glad to help|my pleasure|thanks?( you)?|perfect)\W*$"
    closing = [x for x in sents if not re.match(pleasantry, x, re.I)]
    return bool(closing) and all(
        re.search(_CLOSING, x, re.I) and not re.search(not_closing, x, re.I) for x in closing
    )


def _user_done(text: str) -> bool:
    return bool(re.search(_DONE, text, re.I)) and not re.search(
        _ASKS, re.sub(_DONE, "", text, flags=re.I), re.I
    )


def _unanswered(message: str, gold_message: str, last_user: str) -> str | None:
    """A topic the user just asked about that the gold reply answers and this reply ignores."""
    if "?" not in last_user and not re.search(r"\b(do|does|is|are|what|tell|give)\b", last_user, re.I):
        return None
    for topic, (pattern, answer) in _TOPICS.items():
        if re.search(pattern, last_user, re.I) and re.search(answer, gold_message, re.I):
            if not re.search(answer, message, re.I):
                return topic
    return None


_BOOKING_TALK = r"confirm|reserv|book|table"


def _details_differ(message: str, gold_message: str, ctx: Context) -> str | None:
    """Booking talk (a confirmation, a booking notice) whose time, date, party size or restaurant
    differs from the gold reply's: it confirms the wrong booking."""
    if not (re.search(_BOOKING_TALK, gold_message, re.I) and re.search(_BOOKING_TALK, message, re.I)):
        return None
    pred, gold = message.lower(), gold_message.lower()
    kinds = (
        ("time", CLOCK, time_options),
        ("date", DATE_PHRASE, lambda x: date_options(x, ctx.today)),
        ("party size", SIZE, lambda x: frozenset({number(x)})),
    )
    for what, pattern, options in kinds:
        said = [set().union(*(options(m.group(0)) for m in re.finditer(pattern, t))) for t in (pred, gold)]
        if said[0] and said[1] and not said[0] & said[1]:
            return f"gives a different {what} from the one being booked"
    if "confirm" in gold:
        named = [
            {r["restaurant_name"] for r in ctx.restaurants if _mentions(t, r["restaurant_name"])}
            for t in (pred, gold)
        ]
        if named[0] and named[1] and not named[0] & named[1]:
            return f"confirms {sorted(named[0])[0]}, the user is booking {sorted(named[1])[0]}"
    return None


def _similar(a: str, b: str) -> bool:
    ta, tb = set(name_tokens(a)), set(name_tokens(b))
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) >= 0.8


def _flow_problem(message: str, ctx: Context, gold_message: str, last_user: str) -> str | None:
    """Not a reasonable reply at this point, judged against where the conversation stands (the gold
    reply shows what was called for): ignoring the user's question, closing while the user still
    wants something, carrying on after the user said goodbye, repeating the previous reply, or asking
    again for what an earlier call already used."""
    if not gold_message:
        return None
    last = ctx.messages[-1] if ctx.messages else {}
    user_turn = last.get("role") == "user" and last.get("content") == last_user
    if user_turn and (topic := _unanswered(message, gold_message, last_user)):
        return f"does not answer the user's question about {topic}"
    done = user_turn and _user_done(last_user)
    booked = not user_turn and _booking_status(ctx) == "succeeded" and ctx.calls[-1][0] == RESERVE
    if (
        _closing(message)
        and not _closing(gold_message)
        and last.get("role") == "user"
        and not (done or booked)
    ):
        return "closes the conversation while the user still wants something"
    if done and _closing(gold_message) and not _closing(message) and "?" in message:
        return "asks the user for more after they ended the conversation"
    if ctx.user_texts and re.search(_OPENER, message, re.I) and not re.search(_OPENER, gold_message, re.I):
        return "a generic opener that ignores what the user already said"
    previous = ctx.assistant_texts[-1] if ctx.assistant_texts else ""
    if previous and _similar(message, previous) and not _similar(gold_message, previous):
        return "repeats its previous reply"
    known = {k for _, args, _ in ctx.calls for k in args}
    for slot, pattern in _SLOT_QUESTIONS.items():
        asks = [
            s for s in re.split(r"(?<=[.!?])\s+", message) if s.endswith("?") and re.search(pattern, s, re.I)
        ]
        if asks and slot in known and not re.search(pattern, gold_message, re.I):
            return f"asks again for the {slot}, which the conversation already settled"
    return None


def _reply_claims(message: str) -> str | None:
    statements = " . ".join(_clauses(message))
    if re.search(_FAILURE, statements, re.I):
        return "failed"
    return "succeeded" if re.search(_SUCCESS, statements, re.I) else None


_CHECK_QUESTION = r"\b(correct|right|ok|okay|work|good|fine|accurate)\s*\?"


def asks_to_confirm(message: str) -> bool:
    """A confirmation request ("All set. Just to confirm, I have reservations for 2 at 7 pm. Is that
    correct?") offers a booking; it does not report one."""
    return bool(re.search(_REQUEST, message, re.I) or re.search(_CHECK_QUESTION, message, re.I))


def booking_claim(message: str) -> str | None:
    """What a reply says of the booking: "succeeded", "failed" or None (no claim, or a confirmation
    request). The one rule the judge and the grounding check (tft_utils/synth/grounding.py) both apply."""
    return None if asks_to_confirm(message) else _reply_claims(message)


# The rules below say when a reply contradicts the tool results; the rubric judge (judge_reply) and the
# grounding check of synthetic data (tft_utils/synth/grounding.py) both call them, so validation and
# scoring cannot disagree on what a reply may claim.


def booking_contradiction(message: str, ctx: Context, gold_message: str = "") -> str | None:
    """Why the reply's booking claim contradicts how the reservation went (none made, it failed, it
    succeeded), or None. Where the outcome is unclear from the results, the gold reply (when given)
    tells it; with neither, no claim is wrong."""
    status, claim = _booking_status(ctx), booking_claim(message)
    if status == "unclear":  # the gold reply tells how the ambiguous booking went
        status = _reply_claims(gold_message) or "unclear"
    if claim and status != "unclear" and claim != status:
        return f"says the booking {claim}, but {'none was made' if status == 'none' else 'it ' + status}"
    return None


def count_contradiction(message: str, ctx: Context) -> str | None:
    """Why the number of results the reply states ("I found 3 restaurants", "no restaurants") differs
    from what the last search returned, or None. Names and street addresses are no counts ("found 8
    Immortals Restaurant", "3141 Crow Canyon Place"), and "one" before a returned restaurant's name
    presents an option ("I found one nice place: Akira Bistro"; real SGD replies say so of 4 results)."""
    plain = named = without_names(message, ctx)
    for a in reversed(street_addresses(plain)):
        plain = plain[: a.start()] + "the address" + plain[a.end() :]
    statements = " . ".join(_clauses(plain)).lower()
    finds = [res for fn, _, res in ctx.calls if fn == FIND]
    m = re.search(_COUNT, statements)
    if m and number(m.group(1)) == 1 and named != message and "the restaurant" in statements[m.end() :]:
        m = None  # one option presented by name, not a count of the results
    if m and not finds:
        return f"says {m.group(1)} {m.group(2)}, but no search was made"
    if m and number(m.group(1)) != len(finds[-1]):
        return f"says {m.group(1)} {m.group(2)}, the search returned {len(finds[-1])}"
    if finds and finds[-1] and re.search(_NONE_FOUND, statements):
        return f"says nothing was found, the search returned {len(finds[-1])}"
    return None


def judge_reply(message, ctx: Context, gold_message: str = "") -> Verdict:
    """A reply is good unless it contradicts what the tools returned (or says what none returned),
    invents booking details, or closes the conversation while the user still wants something."""
    if not isinstance(message, str) or not message.strip():
        return Verdict(False, "empty reply")
    low, last_user = message.lower(), (ctx.user_texts[-1] if ctx.user_texts else "")
    off = re.search(_OFF_DOMAIN, low)
    if off and not re.search(rf"\b{re.escape(off.group(1))}", ctx.all_text.lower()):
        return Verdict(False, f"talks about {off.group(1)}, another domain")
    for cand in _unknown_names(message, ctx):
        return Verdict(False, f"names {cand!r}, which no tool result returned")
    problem = booking_contradiction(message, ctx, gold_message) or count_contradiction(message, ctx)
    if problem:
        return Verdict(False, problem)
    context = (ctx.all_text + " " + gold_message).lower()
    clocks = re.findall(CLOCK, low)
    known_times = set().union(*(time_options(x) for x in re.findall(ANY_TIME, context))) if clocks else set()
    for t in clocks:
        if not time_options(t) & known_times:
            return Verdict(False, f"mentions {t}, a time nobody asked for")
    sizes = list(re.finditer(SIZE, low))
    known_numbers = (
        {number(x) for x in re.findall(rf"\b(\d+|{'|'.join(NUMBERS)})\b", context)} if sizes else set()
    )
    for m in sizes:
        if number(next(g for g in m.groups() if g)) not in known_numbers:
            return Verdict(False, f"mentions '{m.group(0)}', a party size nobody asked for")
    problem = _details_differ(message, gold_message, ctx) or _flow_problem(
        message, ctx, gold_message, last_user
    )
    if problem:
        return Verdict(False, problem)
    focus = _focus(message, ctx)
    return (
        _check_facts(message, focus, ctx, last_user)
        if focus
        else Verdict(True, "reasonable reply; contradicts no tool result")
    )


def _check_facts(message: str, r: dict, ctx: Context, last_user: str) -> Verdict:
    name = r.get("restaurant_name")
    message = without_names(message, ctx)  # "Baan Thai House & Wine Bar" claims no alcohol
    for key, pattern, what in (
        ("serves_alcohol", _ALCOHOL, "alcohol"),
        ("has_live_music", _MUSIC, "live music"),
    ):
        truth = bool_key(r.get(key, ""))
        for claim in _polarity_claims(message, pattern, last_user):
            if truth in ("true", "false") and (truth == "true") != claim:
                return Verdict(
                    False, f"says {name} {'has' if claim else 'has no'} {what}; the result says {r[key]}"
                )
    statements = " . ".join(_clauses(message)).lower()
    prices = [
        (PRICE_WORDS[w])
        for w in re.findall(
            r"very expensive|ultra high-end|inexpensive|cheap|moderate|expensive|pricey", statements
        )
    ]
    if (
        prices
        and r.get("price_range")
        and price_key(r["price_range"]) not in prices
        and not re.search(_NEG, statements)
    ):
        return Verdict(False, f"says {name} is {prices[0]}; the result says {r['price_range']}")
    for m in street_addresses(message):
        addresses = [
            str(x.get("street_address", "")).lower()
            for x in ([r] if r.get("street_address") else ctx.restaurants)
        ]
        if not any(a.startswith(m.group(1) + " ") for a in addresses):
            return Verdict(
                False, f"gives the address {m.group(0)!r}; the result says {r.get('street_address')}"
            )
    for m in re.finditer(_PHONE, message):
        digits = "".join(m.groups())
        phones = [re.sub(r"\D", "", str(x.get("phone_number", ""))) for x in [r, *ctx.restaurants]]
        if digits not in phones[:1] and (r.get("phone_number") or digits not in phones):
            return Verdict(False, f"gives the phone {m.group(0)}; the result says {r.get('phone_number')}")
    rating = re.search(r"rat(?:ed|ing)\D{0,12}(\d(?:\.\d)?)", statements)
    if rating and r.get("rating") and abs(float(rating.group(1)) - float(r["rating"])) > 0.05:
        return Verdict(False, f"says rating {rating.group(1)}; the result says {r['rating']}")
    return Verdict(True, "reasonable reply; contradicts no tool result")
