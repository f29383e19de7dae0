"""The rules teacher's knowledge, mined from the seed traces alone: a template bank (every seed
utterance de-lexicalised and labelled with a dialogue act) and a catalogue (the restaurants in the
seeds' tool results). `flow.py` walks a dialogue-flow simulator over both.

Acts are read from the trace itself, by position and keywords (no SGD annotations are used):
user  open_find, open_reserve, inform, request_alts, select, reserve_intent, accept_reserve,
      affirm, negate, ask, thanks, bye (after "anything else?"), thanks_bye (ends it unasked), retry
system request (of some slots: city, cuisine, time, restaurant_name), offer, offer_alt, no_results, offer_intent, confirm,
      confirm_change, success, failure, inform_fact (one sentence per fact), req_more, goodbye
"""

from __future__ import annotations

import re
from collections import defaultdict

from tft_utils.domain.mentions import RESERVE_WORDS
from tft_utils.domain.replies import _OFF_DOMAIN, _PHONE, _reply_claims, street_addresses
from tft_utils.domain.tools import BOOL_SLOTS, CONSTRAINTS, FIND, RESERVE
from tft_utils.domain.values import CUISINE_ALSO, CUISINE_INDEX, PRICE_WORDS
from tft_utils.synth.grounding import user_gave
from tft_utils.synth.lexicon import INFO_WORDS, delexicalise, events, placeholders, trace_values

RESTAURANT_KEYS = ("restaurant_name", "street_address", "phone_number", "price_range", *BOOL_SLOTS)
AFFIRM = re.compile(
    r"^\W*(yes|yeah|yep|yup|sure|correct|right|that'?s (right|correct|it|perfect|great|good|fine)|"
    r"that (is|works|sounds)|sounds|perfect|great|ok|okay|absolutely|definitely|please do)",
    re.I,
)
NEGATE = re.compile(r"^\W*(no|nope|not|actually|change|make it|instead)\b", re.I)
ALTS = re.compile(r"\b(other|another|else|different|more options|alternatives?)\b", re.I)
THANKS = re.compile(r"\b(thanks?|thank you|appreciate)\b", re.I)
REQ_MORE = re.compile(
    r"\b(anything else|something else|further|more help|help (you )?with|anything more|else i can)\b", re.I
)
REQUEST_WORDS = {
    "city": re.compile(r"\b(city|cities|where|location|area|town)\b", re.I),
    # "food", "kind of", or a list of suggestions ("Mexican, Chinese, or something else?")
    "cuisine": re.compile(
        r"\b([Ff]ood|[Cc]uisine|kind of|type of|style of|sort of)\b|"
        r"\b[A-Z][a-z]+ ?, (?:or )?(?!What|Which|Where|When|How|Do|Is|Are|Would|Could|Can)[A-Z][a-z]+\b"
    ),
    "time": re.compile(r"\b(what time|when|which time|time)\b", re.I),
    "restaurant_name": re.compile(
        r"\b(which|what|preferred|specific|name of the) (restaurant|place)\b|"
        r"\brestaurant name\b",
        re.I,
    ),
}
LITERAL = re.compile(r"(?<=[a-z,}] )[A-Z][A-Za-z]+")  # a value left in the text ("... serves Pizza", "in SF")
DAYPART_RE = re.compile(
    r"\b(morning|afternoon|evening|night|tonight|noon|dinner|lunch|breakfast|brunch)\b", re.I
)
# the prior of Bank.booking_shares, from the shipped train pool's 327 real traces: 113 of 398 reservation
# attempts fail (0.28), 37 of those offer one time (0.33; 43 counted before `offers_time`, which set 0.4).
# Only small seed sets feel it: S1's offer share is 0.357 with 0.4, would be 0.340 with 0.33
FAIL_PRIOR, OFFER_PRIOR = 0.3, 0.4
# a failure reply that offers another time: one {time}, and words that offer it ("Shall I try {time}?");
# not "no availability for {time}. Anything else?" nor "unable at {time}. Would you like {time}?" (two
# times, which re-filled with the one offered would call it unavailable)
OFFER = re.compile(
    r"\b(shall|should|would you like|would that work|would you be|how about|do you want|instead|"
    r"if you (?:like|want)|i can make|give them a shot)\b|\bokay\?",
    re.I,
)


def offers_time(text: str) -> bool:
    return text.count("{time}") == 1 and bool(OFFER.search(text))


FAILURE = re.compile(
    r"\b(sorry|unable|couldn't|could not|can't|cannot|not able|unavailable|unsuccessful|failed|"
    r"no (reservations?|tables?) (is |are )?(available|left))\b|apolog",
    re.I,
)


# Every cuisine word of the domain's vocabulary (domain.values): left in a template, it would name a
# cuisine the re-filled conversation may not be about ("Malaysian in {city} would be great").
CUISINE_WORDS = re.compile(
    r"(?<![\w{])("
    + "|".join(re.escape(w) for w in sorted({*CUISINE_INDEX, *CUISINE_ALSO}, key=len, reverse=True))
    + r")(?![\w}])",
    re.I,
)
PRICE_WORD_RE = re.compile(
    r"(?<![\w{])("
    + "|".join(re.escape(w) for w in sorted(PRICE_WORDS, key=len, reverse=True))
    + r")(?![\w}])",
    re.I,
)


def literal_left(text: str) -> bool:
    """A slot value the de-lexicaliser could not see ("Pizza", "Thai food"): unsafe to re-fill."""
    return (
        bool(LITERAL.search(text))
        or bool(CUISINE_WORDS.search(text))
        or ("{cuisine}" not in text and bool(re.search(r"\b(food|cuisine)\b", text)))
    )


def states_literal(text: str) -> str | None:
    """What an utterance states in words that re-filling would not keep true: a phone number or
    street address left in it ("contact"), another domain ("domain"); None when neither."""
    if re.search(_PHONE, text) or street_addresses(text):
        return "contact"
    if re.search(_OFF_DOMAIN, text, re.I):
        return "domain"
    return None


# Fallback wording, used only for an act that no seed shows (e.g. a failed booking in 5 seeds);
# each conversation records how many of its utterances came from here.
BUILTIN = {
    "open_reserve": [
        "I'd like to book a table at {restaurant_name} in {city}.",
        "Can you reserve a table at {restaurant_name} for {time}?",
    ],
    "request": [
        "Which city should I look in?",
        "What kind of food would you like?",
        "What time would you like the reservation for?",
        "Which restaurant would you like to book?",
    ],
    "offer": ["I found {count} restaurants. {restaurant_name} in {city} is a nice one."],
    "offer_alt": ["How about {restaurant_name} in {city}?"],
    "offer_intent": ["Would you like to make a reservation there?"],
    "confirm": ["Please confirm: a table for {party_size} at {restaurant_name} in {city} {date} at {time}."],
    "success": ["Your reservation has been made."],
    "failure": [
        "Sorry, I couldn't make that reservation. Is there anything else I can help with?",
        "Sorry, that time is fully booked. Shall I try a table for {party_size} at {restaurant_name} at {time}?",
    ],
    "no_results": ["Sorry, I couldn't find any restaurant matching that."],
    "req_more": ["Is there anything else I can help you with?"],
    "goodbye": ["Have a nice day."],
    "fact:phone_number": ["Their phone number is {phone_number}."],
    "fact:street_address": ["They are located at {street_address}."],
    "fact:price_range": ["It is {price_range}ly priced."],
    "fact:has_live_music=True": ["Yes, they have live music."],
    "fact:has_live_music=False": ["No, they don't have live music."],
    "fact:serves_alcohol=True": ["Yes, they serve alcohol."],
    "fact:serves_alcohol=False": ["No, they don't serve alcohol."],
    "retry": ["Can you try again for {time}?"],
    "affirm": ["Yes, that's right."],
    "negate": ["No, make it for {time}."],
    "select": ["That sounds good."],
    "accept_reserve": ["Yes, please."],
    "reserve_intent": ["I'd like to make a reservation."],
    "request_alts": ["Can you find me something else?"],
    "thanks": ["Thank you."],
    "bye": ["No, that's all. Thank you."],
    "thanks_bye": ["Thank you, that's all I need."],
    "ask": ["What is their phone number?"],
    "open_find": ["I'm looking for a {cuisine} restaurant in {city}."],
    "inform": ["{city}, please.", "{cuisine} food, please.", "At {time}, please."],
}


def asks_of(text: str) -> set[str]:
    """Which restaurant facts an utterance asks for or states, by keyword or placeholder."""
    found = {slot for slot, pat in INFO_WORDS.items() if pat.search(text)}
    return found | (placeholders(text) & {"phone_number", "street_address", "price_range"})


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


class Bank:
    """Templates by act, plus the catalogue of restaurants, cities and cuisines the seeds show."""

    def __init__(self) -> None:
        self.templates: dict[str, list[dict]] = defaultdict(list)
        self.restaurants: dict[str, dict] = {}
        self.cities: set[str] = set()
        self.cuisines: set[str] = set()
        self.result_sizes: list[int] = []
        # each seed reservation's outcome: "success", "failure" (nothing offered) or "failure_offer"
        # (SGD's result holds another time and the reply offers it: "fully booked; shall I try 5 pm?")
        self.bookings: list[str] = []
        self.seed_ids: list[str] = []
        self.literals: set[str] = set()  # every restaurant name and city the seeds' calls and results carry

    def add(self, act: str, text: str, seed: str, **extra) -> None:
        entry = {"act": act, "text": text, "slots": placeholders(text), "seed": seed, "source": "seed"}
        entry.update(extra)
        if all(entry["text"] != t["text"] for t in self.templates[act]):
            self.templates[act].append(entry)

    @classmethod
    def from_seeds(cls, rows: list[dict]) -> Bank:
        bank = cls()
        for row in rows:
            add_seed(bank, row)
        bank.drop_literals()
        return bank

    def drop_literals(self) -> None:
        """Drop templates that still name a catalogue restaurant or city in words (a value the
        de-lexicaliser missed, e.g. said differently than the call had it): re-filled, they would lie."""
        names = sorted((v for v in self.literals if len(v) > 3), key=lambda v: (-len(v), v))
        pattern = re.compile("|".join(rf"\b{re.escape(v)}\b" for v in names), re.I)
        for act, temps in self.templates.items():
            self.templates[act] = [t for t in temps if not (names and pattern.search(t["text"]))]

    @staticmethod
    def builtin(act: str) -> list[dict]:
        """The fallback wording of an act (used when no seed template fits)."""
        return [
            {
                "act": act,
                "text": t,
                "slots": placeholders(t),
                "seed": None,
                "source": "builtin",
                "asks": set(),
                "facts": {},
                "constraints": {},
                "requests": requested(t) if act == "request" else set(),
            }
            for t in BUILTIN.get(act, [])
        ]

    def booking_shares(self, prior: int = 10) -> tuple[float, float]:
        """(share of the seeds' reservation attempts that failed, share of those failures that
        offered another time): the rules teacher fails and offers as often as its seeds do. A few
        seeds say little (S4's five show no failure), so each share starts from `prior` pseudo-
        attempts at the real pool's rates (FAIL_PRIOR, OFFER_PRIOR): S1's seeds, 32 of 110 attempts
        failed -> (32 + 10 x 0.3) / (110 + 10) = 0.29; S4's five, none -> 3 / 15 = 0.2."""
        failed = [b for b in self.bookings if b != "success"]
        fail = (len(failed) + prior * FAIL_PRIOR) / (len(self.bookings) + prior)
        offer = (failed.count("failure_offer") + prior * OFFER_PRIOR) / (len(failed) + prior)
        return fail, offer

    def summary(self) -> dict:
        return {
            "seeds": len(self.seed_ids),
            "restaurants": len(self.restaurants),
            "cities": len(self.cities),
            "cuisines": len(self.cuisines),
            "templates": {a: len(t) for a, t in sorted(self.templates.items())},
        }


def add_catalogue(bank: Bank, evs: list[dict]) -> None:
    for ev in evs:
        if ev["kind"] == "call" and ev["name"] == FIND:
            bank.cities.add(ev["args"].get("city", "")) if ev["args"].get("city") else None
            bank.cuisines.add(ev["args"].get("cuisine", "")) if ev["args"].get("cuisine") else None
        if ev["kind"] == "result":
            if ev["results"] and "date" not in ev["results"][0]:
                bank.result_sizes.append(len(ev["results"]))
            for r in ev["results"]:
                if isinstance(r, dict) and all(isinstance(r.get(k), str) for k in RESTAURANT_KEYS):
                    bank.restaurants.setdefault(r["restaurant_name"], {k: r[k] for k in RESTAURANT_KEYS})
                    bank.cities.add(r.get("city") or "")
                    bank.cuisines.add(r.get("cuisine") or "")
    bank.cities.discard("")
    bank.cuisines.discard("")


def _system_act(text: str, prev: dict | None, after_alts: bool, is_last: bool) -> str:
    if prev and prev["kind"] == "result":
        if prev.get("reserve"):  # SGD sometimes reports a failure beside a non-empty result: trust the words
            claim = _reply_claims(text)  # the judge's reading of the words ("sorry ... but I've booked it")
            if claim == "failed" or (claim is None and (not prev["results"] or FAILURE.search(text))):
                return "failure"
            return "success" if prev["results"] else "other"  # "booked" beside an empty result: noise
        return "offer" if "{restaurant_name}" in text else "no_results"
    slots = placeholders(text)
    if is_last:
        return "goodbye"
    if "{time}" in text and ("?" in text or re.search(r"confirm|correct|right", text, re.I)):
        return "confirm" if "restaurant_name" in slots else "confirm_change"
    if "restaurant_name" in slots and after_alts:
        return "offer_alt"
    question = "?" in text or re.match(
        r"^(which|what|where|when|at what|(please )?(tell|let) me)", text, re.I
    )
    if question and requested(text):
        return "request"
    if asks_of(text) and "?" not in text:
        return "inform_fact"
    if REQ_MORE.search(text):
        return "req_more"
    if RESERVE_WORDS.search(text) and question:
        return "offer_intent"
    return "other"


def requested(text: str) -> set[str]:
    """The slots a system question asks for ("Which city and restaurant?" -> city, restaurant_name)."""
    found = {slot for slot, pat in REQUEST_WORDS.items() if pat.search(text)}
    return found if not (found & {"cuisine"} and REQ_MORE.search(text) and len(found) > 1) else {"cuisine"}


def _user_act(
    text: str, first: bool, last: bool, prev_sys: str | None, next_sys: str | None, next_call: str | None
) -> str:
    slots = placeholders(text)
    if first:
        return "open_reserve" if next_call == "reserve-flow" else "open_find"
    if last or next_sys == "goodbye":  # "No, thanks" answers "anything else?"; else "Thanks, that's all"
        return "bye" if prev_sys == "req_more" else "thanks_bye"
    if prev_sys in ("confirm", "confirm_change"):
        return "affirm" if next_call == RESERVE or AFFIRM.match(text) else "negate"
    if prev_sys in ("req_more", "failure") and (RESERVE_WORDS.search(text) or slots & {"time", "party_size"}):
        return "retry"
    if next_sys == "req_more" and THANKS.search(text):
        return "thanks"
    if prev_sys == "offer_intent":
        return "accept_reserve"
    if RESERVE_WORDS.search(text):
        return "reserve_intent"
    if ALTS.search(text) and prev_sys in ("offer", "offer_alt"):
        return "request_alts"
    if asks_of(text) and "?" in text:
        return "ask"
    if prev_sys == "request":
        return "inform"
    if prev_sys in ("offer", "offer_alt"):
        return "select"
    return "other"


def add_seed(bank: Bank, row: dict) -> None:
    """Label every utterance of one seed trace and file its de-lexicalised template."""
    seed = row.get("dialogue_id", "?")
    bank.seed_ids.append(seed)
    evs = events(row)
    add_catalogue(bank, evs)
    values = trace_values(evs)
    bank.literals |= values["restaurant_name"] | values["city"]
    for i, ev in enumerate(evs):  # mark results of a reservation
        if ev["kind"] == "result" and i and evs[i - 1].get("name") == RESERVE:
            ev["reserve"] = True
    talk = [i for i, ev in enumerate(evs) if ev["kind"] in ("user", "say")]
    seen: dict[str, set[str]] = {s: set() for s in values}  # values mentioned so far (assistant delex)
    focus: dict = {}  # the restaurant the dialogue is about (for the facts an inform states)
    next_call = {}
    for i, ev in enumerate(evs):
        if ev["kind"] == "user":
            nxt = evs[i + 1] if i + 1 < len(evs) else None
            next_call[i] = nxt["name"] if nxt and nxt["kind"] == "call" else None
    reserving, prev_sys = False, None
    texts = {}
    for i in talk:  # first pass: de-lexicalise with the values known at that point
        ev = evs[i]
        if i and evs[i - 1]["kind"] == "result":
            for s in values:
                seen[s] |= {str(r.get(s)) for r in evs[i - 1]["results"] if isinstance(r, dict) and r.get(s)}
        reserving = reserving or bool(RESERVE_WORDS.search(ev["text"]))
        is_user = ev["kind"] == "user"
        texts[i] = delexicalise(ev["text"], values if is_user else seen, reserving, system=not is_user)
        for slot, vals in values.items():
            seen[slot] |= {v for v in vals if v.lower() in ev["text"].lower()}
    sys_acts, prev_user = {}, ""
    for n, i in enumerate(talk):
        if evs[i]["kind"] == "say":
            prev = evs[i - 1] if i else None
            sys_acts[i] = _system_act(texts[i], prev, bool(ALTS.search(prev_user)), n == len(talk) - 1)
        else:
            prev_user = evs[i]["text"]
    for n, i in enumerate(talk):
        ev, text = evs[i], texts[i]
        if ev["kind"] == "say":
            act = sys_acts[i]
            if i and evs[i - 1]["kind"] == "result" and evs[i - 1]["results"]:
                focus = evs[i - 1]["results"][0]
            name_hit = [
                r for r in bank.restaurants.values() if r["restaurant_name"].lower() in ev["text"].lower()
            ]
            focus = name_hit[0] if name_hit else focus
            _add_system(bank, act, text, seed, focus)
            # a booking's outcome, where the reply says it: an empty result under words that say
            # nothing of a failure ("Anything else?") is a call S2's corruption put there, no booking
            if i and evs[i - 1].get("reserve") and act in ("success", "failure"):
                if act == "success" or _reply_claims(text) == "failed" or FAILURE.search(text):
                    offer = act == "failure" and evs[i - 1]["results"] and offers_time(text)
                    bank.bookings.append("failure_offer" if offer else act)
            prev_sys = act
            continue
        nxt = next((j for j in talk if j > i and evs[j]["kind"] == "say"), None)
        first_call = next((e["name"] for e in evs if e["kind"] == "call"), None)
        nc = ("reserve-flow" if first_call == RESERVE else None) if n == 0 else next_call.get(i)
        act = _user_act(text, n == 0, n == len(talk) - 1, prev_sys, sys_acts.get(nxt), nc)
        literal = (
            literal_left(text) if act in ("inform", "open_find", "open_reserve", "request_alts") else False
        )
        if act == "other" or literal or ("{time}" in text and DAYPART_RE.search(text)):
            continue
        if CUISINE_WORDS.search(text) or states_literal(text):
            continue  # "Do they serve pasta?", "I want a hotel": words re-filling cannot keep true
        constraints = _constraints(text, evs, i)
        if constraints is None:
            continue
        bank.add(
            act,
            text,
            seed,
            asks=asks_of(text) if act in ("ask", "affirm") else set(),
            constraints=constraints,
            facts={},
        )


def _constraints(text: str, evs: list[dict], i: int) -> dict | None:
    """Optional search slots a user utterance states in words ('not very costly', 'a drink'):
    taken from the FindRestaurants call that follows, so a reused template keeps its meaning.
    None when the words state a constraint the call does not carry as said ("expensive" searched
    as moderate because of a later utterance): re-used, that template would not be grounded."""
    call = next((e for e in evs[i:] if e["kind"] == "call"), None)
    stated = [s for s in CONSTRAINTS if INFO_WORDS[s].search(text) and "{" + s + "}" not in text]
    if not call or call["name"] != FIND:
        return {}
    out = {s: call["args"][s] for s in stated if s in call["args"]}
    if any(not user_gave(s, v, text) for s, v in out.items()):
        return None
    if evs[i + 1] is call and set(stated) - set(out):  # "one which serves alcohol", searched without it
        return None
    return out


FACT_WORDS = re.compile(r"\b(alcohol\w*|liquor|booze|wine|beer|live music|music|band)\b", re.I)


def _add_system(bank: Bank, act: str, text: str, seed: str, focus: dict) -> None:
    if act == "other" or ("{time}" in text and DAYPART_RE.search(text)):
        return
    if act != "request" and (LITERAL.search(text) or CUISINE_WORDS.search(text)):
        return  # "their cuisine type is Sushi", "1 noodle place": a value left in words
    if states_literal(text):  # a phone, an address, a hotel left in the words
        return
    claim = _reply_claims(text)  # booking news only where the act is that news
    if claim and {"success": "succeeded", "failure": "failed"}.get(act) != claim:
        return
    if act not in ("inform_fact", "success") and (PRICE_WORD_RE.search(text) or FACT_WORDS.search(text)):
        return  # "1 cheaper restaurant": a fact only inform_fact/success templates record and check
    if act in ("inform_fact", "success"):  # one template per sentence, each with the facts it states
        for sent in sentences(text) if act == "inform_fact" else [text]:
            informs = asks_of(sent)
            facts = {s: focus.get(s) for s in sorted(informs) if s in BOOL_SLOTS or s == "price_range"}
            if act == "inform_fact" and not informs:
                continue
            bank.add(act, sent, seed, informs=informs, facts=facts, asks=set(), constraints={})
        return
    bank.add(
        act,
        text,
        seed,
        asks=set(),
        facts={},
        constraints={},
        requests=requested(text) if act == "request" else set(),
    )
