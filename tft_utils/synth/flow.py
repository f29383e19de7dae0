"""The rules teacher: a dialogue-flow simulator over the seed template bank and catalogue.

One conversation = a user goal (city, cuisine, optional constraints, time, date, party size) and a
walk through SGD's Restaurants_1 flow: search (requests for missing slots, FindRestaurants, offer,
alternatives, questions), reservation (time request, confirm, changes, ReserveRestaurant, success
or failure and retry), closing. Each utterance is a seed template of that act re-filled with this
conversation's values; each tool result comes from the catalogue, re-located to the goal's city.
The topic sets the knobs (how many alternatives, questions, changes...) and the length window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re

from tft_utils.domain.calls import call_name
from tft_utils.domain.tools import (
    BOOKING_DETAILS,
    BOOL_SLOTS,
    CONSTRAINTS,
    FIND,
    OPTIONAL,
    PRICE_RANGES,
    RESERVE,
    RESPOND,
    TODAY,
    TODAY_ISO,
)
from tft_utils.synth.lexicon import fill
from tft_utils.synth.rules import Bank, offers_time

RESERVE_SLOTS = set(BOOKING_DETAILS)


class Budget(Exception):
    """A needed act has no usable template (not even the fallback): this walk is abandoned."""


# Per topic: a probability (float) or an inclusive count range (tuple) for each event of the walk.
KNOB_NAMES = (
    "reserve_only",
    "alts",
    "asks",
    "negates",
    "affirm_asks",
    "offer_intent",
    "asks_after",
    "req_more",
    "open_full",
)
KNOBS = {  # short: an early search; medium: search and reservation; long: the full flow
    "short": (0.0, (0, 0), (0, 0), (0, 0), 0.3, 0.4, (0, 0), 0.3, 0.7),
    "short_medium": (0.4, (0, 1), (0, 1), (0, 1), 0.4, 0.5, (0, 1), 0.5, 0.4),
    "medium": (0.0, (0, 1), (0, 1), (0, 1), 0.5, 0.5, (0, 1), 0.6, 0.3),
    "long": (0.1, (1, 2), (0, 2), (1, 2), 0.5, 0.5, (0, 2), 1.0, 0.0),
}
# Whether the booking fails, and whether the failure offers another time, is drawn once per
# conversation at the seeds' rates (`Bank.booking_shares`), whatever the topic; the walks tried for
# the length window share it (drawn per walk at the same rates, the window kept the shorter walks
# without failure: 11% of S1's synthetic conversations retried a booking, against 21% of the real pool's).


def knobs(topic: str, rng: random.Random) -> dict:
    """How eventful a conversation of this topic is; the length window then accepts or rejects it."""
    draw = {float: lambda p: rng.random() < p, tuple: lambda lo_hi: rng.randint(*lo_hi)}
    return {name: draw[type(spec)](spec) for name, spec in zip(KNOB_NAMES, KNOBS[topic], strict=True)}


def booking_outcome(bank: Bank, rng: random.Random) -> str:
    """'success', 'failure' (then the user asks again) or 'failure_offer', at the seeds' rates."""
    fail, offer = bank.booking_shares()
    if rng.random() >= fail:
        return "success"
    return "failure_offer" if rng.random() < offer else "failure"


class Walk:
    """Builds one conversation; `messages` is the trace, `meta` says where each utterance came from."""

    def __init__(
        self,
        bank: Bank,
        rng: random.Random,
        topic: str,
        dialogue_id: str,
        cuisines: list[str],
        mint: float = 0.0,
        booking: str = "success",
    ):
        self.bank, self.rng, self.topic, self.did, self.mint = bank, rng, topic, dialogue_id, mint
        self.k = knobs(topic, rng)
        self.booking = booking
        self.messages: list[dict] = []
        self.said: set[str] = set()  # templates used so far
        self.meta = {"topic": topic, "seed_templates": 0, "builtin_templates": 0, "seeds": set()}
        names = sorted(bank.restaurants)
        rng.shuffle(names)
        self.unused = names  # catalogue restaurants not yet shown in this conversation
        day = TODAY + dt.timedelta(days=rng.choice([0, 0, 0, 1, 2, rng.randint(3, 13)]))
        hh, mm = rng.randint(10, 21), rng.choice([0, 0, 15, 30, 30, 45])
        self.v = {
            "city": rng.choice(sorted(bank.cities)),
            "cuisine": rng.choice(cuisines),
            "time": f"{hh:02d}:{mm:02d}",
            "date": day.isoformat(),
            "party_size": str(rng.randint(1, 6)),
            "price_range": rng.choice(PRICE_RANGES),
        }
        self.defaults = {"date": TODAY_ISO, "party_size": OPTIONAL[RESERVE]["party_size"]}  # SGD, when unsaid
        self.search: dict = {}
        self.results: list[dict] = []
        self.focus: dict = {}

    # ---- messages ----
    def _pick(self, act: str, need: set = frozenset(), allow: set | None = None, ok=None) -> dict:
        """A template of `act` mentioning every slot in `need` and nothing outside `allow`."""

        def fit(pool: list[dict]) -> list[dict]:
            return [
                t
                for t in pool
                if need <= t["slots"]
                and (allow is None or t["slots"] <= set(allow) | need)
                and (ok is None or ok(t))
            ]

        fits = fit(self.bank.templates.get(act, [])) or fit(self.bank.builtin(act))
        if not fits:
            raise Budget(act)
        # a template already said in this conversation only when no other fits (a user asking the
        # same question twice, word for word, is a simulator artefact, not a real dialogue)
        t = self.rng.choice([t for t in fits if t["text"] not in self.said] or fits)
        self.said.add(t["text"])
        self.meta["seed_templates" if t["source"] == "seed" else "builtin_templates"] += 1
        if t["seed"]:
            self.meta["seeds"].add(t["seed"])
        return t

    def _values(self, speaker: str = "assistant") -> dict:
        # the user speaks from the goal; the assistant from the restaurant in focus (its real facts)
        both = {**self.focus, **self.v} if speaker == "user" else {**self.v, **self.focus}
        return {**both, "count": str(len(self.results))}

    def user(self, act: str, need: set = frozenset(), allow: set | None = None, ok=None) -> dict:
        t = self._pick(act, need, allow, ok)
        self.messages.append(
            {"role": "user", "content": fill(t["text"], self._values("user"), self.rng, "user")}
        )
        return t

    def _call(self, name: str, args: dict) -> None:
        digest = hashlib.sha256(f"{self.did}:{len(self.messages)}".encode()).hexdigest()[:12]
        fn = {"name": name, "arguments": json.dumps(dict(sorted(args.items())))}
        self.messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": f"call_{digest}", "type": "function", "function": fn}],
            }
        )

    def say(self, text: str) -> None:
        self._call(RESPOND, {"message": text})

    def system(self, act: str, need: set = frozenset(), allow: set | None = None, ok=None) -> None:
        t = self._pick(act, need, allow, ok)
        self.say(fill(t["text"], self._values(), self.rng, "assistant"))

    def tool(self, name: str, args: dict, results: list[dict]) -> None:
        self._call(name, args)
        rows = [dict(sorted(r.items())) for r in results]
        self.messages.append({"role": "user", "content": json.dumps(rows)})

    # ---- facts about the restaurant in focus ----
    def _fits_facts(self, t: dict) -> bool:
        return all(self.focus.get(s) == val for s, val in t.get("facts", {}).items())

    def facts_text(self, asks: set, lead: str | None = None) -> str:
        """Answer `asks` about the focus restaurant: seed sentences whose stated facts hold here."""
        parts, left = [], set(asks)
        if lead:
            t = self._pick(lead, ok=lambda t: t.get("informs", set()) <= left and self._fits_facts(t))
            parts.append(fill(t["text"], self._values(), self.rng, "assistant"))
            left -= t.get("informs", set())
        while left:
            fits = [
                t
                for t in self.bank.templates.get("inform_fact", [])
                if t["informs"] and t["informs"] <= left and self._fits_facts(t)
            ]
            if fits:
                best = max(len(t["informs"]) for t in fits)
                t = self.rng.choice([t for t in fits if len(t["informs"]) == best])
                self.meta["seed_templates"] += 1
                self.meta["seeds"].add(t["seed"])
            else:
                slot = sorted(left)[0]
                key = f"fact:{slot}={self.focus.get(slot)}" if slot in BOOL_SLOTS else f"fact:{slot}"
                t = self._pick(key)
                t = {**t, "informs": {slot}}
            parts.append(fill(t["text"], self._values(), self.rng, "assistant"))
            left -= t["informs"]
        return " ".join(parts)

    # ---- catalogue ----
    def _restaurants(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            if not self.unused:
                break
            r = dict(self.bank.restaurants[self.unused.pop()])
            if self.rng.random() < self.mint:
                r.update(self._minted())
            r.update(city=self.v["city"], cuisine=self.v["cuisine"])
            r.update({s: v for s, v in self.search.items() if s in CONSTRAINTS})  # results match the search
            out.append(r)
        return out

    def _minted(self) -> dict:
        """A new restaurant from catalogue parts: the head of one name and the tail of another
        ("Rasa" + "Bar And Kitchen"), a street of the catalogue, a phone in a catalogue area code.
        With five seeds the catalogue holds ~24 names; new ones make the student copy names from
        the tool results instead of recalling the few it has seen."""
        rng, cat = self.rng, list(self.bank.restaurants.values())
        a, b = rng.choice(cat), rng.choice(cat)
        head, tail = a["restaurant_name"].split()[0], b["restaurant_name"].split()[1:]
        name = " ".join([head, *(tail or ["Kitchen"])])
        street = rng.choice(cat)["street_address"].split(" ", 1)
        area = re.match(r"\D*(\d{3})", rng.choice(cat)["phone_number"])  # "(415) 567-5432" -> 415
        area = area.group(1) if area else "415"
        return {
            "restaurant_name": name,
            "street_address": f"{rng.randint(1, 4999)} {street[-1]}",
            "phone_number": f"{area}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        }

    # ---- the flow ----
    def search_phase(self) -> None:
        allow = {"city", "cuisine", "price_range"} if self.k["open_full"] else {"city"}
        t = self.user("open_find", allow=allow)
        self.search = {"city": self.v["city"], "cuisine": self.v["cuisine"], **t.get("constraints", {})}
        if "price_range" in t["slots"]:
            self.search["price_range"] = self.v["price_range"]
        self.fill_in({"city", "cuisine"} - t["slots"], search=True)
        self.find()
        for _ in range(self.k["alts"]):
            self.v["price_range"] = self.rng.choice(
                [p for p in PRICE_RANGES if p != self.search.get("price_range")]
            )
            t = self.user("request_alts", allow={"price_range"})
            if "price_range" in t["slots"] or t.get("constraints"):
                self.search.update(
                    {"price_range": self.v["price_range"]} if "price_range" in t["slots"] else {}
                )
                self.search.update(t.get("constraints", {}))
                self.find()
            elif len(self.offered) < len(self.results):
                self.focus = self.results[len(self.offered)]
                self.offered.append(self.focus)
                self.system(
                    "offer_alt", need={"restaurant_name"}, allow={"restaurant_name", "city", "cuisine"}
                )
            else:
                self.find()  # nothing left to offer: search again
        for _ in range(self.k["asks"]):
            self.say(self.facts_text(self.ask()))
        if self.k["offer_intent"]:
            self.user("select", allow=set())
            self.system("offer_intent", allow=set())
            return self.user("accept_reserve", allow=RESERVE_SLOTS)["slots"]
        return self.user("reserve_intent", allow=RESERVE_SLOTS)["slots"]

    def find(self) -> None:
        sizes = self.bank.result_sizes or [1, 2, 3]
        self.results = self._restaurants(self.rng.choice(sizes))
        self.tool(FIND, self.search, self.results)
        if not self.results:
            raise Budget("catalogue exhausted")
        self.focus = self.results[0]
        self.offered = [self.focus]
        self.system(
            "offer",
            need={"restaurant_name"},
            allow={"restaurant_name", "city", "cuisine", "count", "price_range"},
        )

    def ask(self, affirm: bool = False) -> set:
        t = self.user("affirm" if affirm else "ask", allow=set(), ok=lambda t: affirm or bool(t["asks"]))
        return set(t["asks"])

    def fill_in(self, missing: set, search: bool = False) -> set:
        """System requests for the missing slots (one or several at once) until the user gave all;
        returns the slots the user gave (a reply may give a missing slot nobody asked for yet).
        While a search is being specified (`search`), a reply may also state a constraint in words
        ("economical pricing preferred"): the search then carries it; elsewhere such replies are not used."""
        given: set = set()
        missing = set(missing)
        while missing:
            known = {"city", "cuisine", "time", "restaurant_name"} - missing
            t = self._pick(
                "request",
                allow=known,
                ok=lambda t, m=frozenset(missing): bool(t["requests"]) and t["requests"] <= m,
            )
            self.say(fill(t["text"], self._values(), self.rng, "assistant"))
            asked = t["requests"]
            got = self.user(
                "inform",
                allow=missing,
                ok=lambda u, a=asked: bool(u["slots"] & a) and (search or not u.get("constraints")),
            )
            if search:
                self.search.update(got.get("constraints", {}))
            given |= got["slots"]
            missing -= got["slots"]
        return given

    def reserve_open(self) -> set:
        self.focus = self._restaurants(1)[0]
        t = self.user("open_reserve", allow={"restaurant_name", "city"} | RESERVE_SLOTS)
        told = t["slots"] | self.fill_in({"restaurant_name", "city"} - t["slots"])
        return told & RESERVE_SLOTS

    def reserve_phase(self, told: set) -> None:
        if "time" not in told:
            told |= self.fill_in({"time"})
        for slot in sorted(RESERVE_SLOTS - told):
            self.v[slot] = self.defaults[slot]  # unsaid: SGD books for 2, today
        self.system("confirm", need={"restaurant_name", "time"})
        for _ in range(self.k["negates"]):
            self.negate()
        asks = self.ask(affirm=True) if self.k["affirm_asks"] else set()
        if not self.k["affirm_asks"]:
            self.user("affirm", allow=set(), ok=lambda t: not t["asks"])
        if self.booking == "failure_offer":
            self.fail_and_offer()
            asks = set()
        elif self.booking == "failure":
            self.tool(RESERVE, self._booking(), [])
            self.system("failure", allow=set())
            self.v["time"] = self._other_time()
            self.user("retry", need={"time"}, allow=RESERVE_SLOTS)
            self.system("confirm", need={"restaurant_name", "time"})
            self.user("affirm", allow=set(), ok=lambda t: not t["asks"])
            asks = set()
        booking = self._booking()
        self.tool(RESERVE, booking, [{**self.focus, **booking}])
        self.say(self.facts_text(asks, lead="success"))

    def fail_and_offer(self) -> None:
        """SGD's other failure: the result holds the time the restaurant can do, the reply offers it
        ("Sorry, they are fully booked. Shall I try 5 pm?"), the user agrees and the booking follows
        with no new confirmation. 37 of the real pool's 113 failures go this way."""
        asked = self._booking()
        while self.v["time"] == asked["time"]:
            self.v["time"] = self._other_time()
        self.tool(RESERVE, asked, [{**self.focus, **self._booking()}])
        self.system(
            "failure",
            need={"time"},
            allow=RESERVE_SLOTS | set(self.focus),
            ok=lambda t: offers_time(t["text"]),
        )
        self.user("affirm", allow=set(), ok=lambda t: not t["asks"])

    def negate(self) -> None:
        t = self.user("negate", allow=RESERVE_SLOTS, ok=lambda t: bool(t["slots"] & RESERVE_SLOTS))
        changed = t["slots"] & RESERVE_SLOTS
        # the user's words were filled with the old values: re-render with new ones (in slot order:
        # each new value is a draw, so set order, which follows the string hash, must not decide it)
        for slot in sorted(changed):
            self.v[slot] = {
                "time": self._other_time,
                "date": self._other_date,
                "party_size": lambda: str(self.rng.randint(1, 6)),
            }[slot]()
        self.messages[-1]["content"] = fill(t["text"], self._values("user"), self.rng, "user")
        ok = [c for c in self.bank.templates.get("confirm_change", []) if changed <= c["slots"]]
        if ok and self.rng.random() < 0.6:
            self.say(fill(self.rng.choice(ok)["text"], self._values(), self.rng, "assistant"))
            self.meta["seed_templates"] += 1
        else:
            self.system("confirm", need={"restaurant_name", "time"})

    def _other_time(self) -> str:
        return f"{self.rng.randint(10, 21):02d}:{self.rng.choice([0, 15, 30, 45]):02d}"

    def _other_date(self) -> str:
        return (TODAY + dt.timedelta(days=self.rng.randint(1, 13))).isoformat()

    def _booking(self) -> dict:
        return {
            "restaurant_name": self.focus["restaurant_name"],
            "city": self.v["city"],
            "time": self.v["time"],
            "date": self.v["date"],
            "party_size": self.v["party_size"],
        }

    def closing(self) -> None:
        for _ in range(self.k["asks_after"]):
            asks = self.ask()
            self.say(self.facts_text(asks))
        if self.k["req_more"]:
            self.user("thanks", allow=set())
            self.system("req_more", allow=set())
            self.user("bye", allow=set())
        else:
            self.user("thanks_bye" if self.bank.templates.get("thanks_bye") else "bye", allow=set())
        self.system("goodbye", allow=set())

    def run(self) -> list[dict]:
        told = self.reserve_open() if self.k["reserve_only"] else self.search_phase()
        self.reserve_phase(set(told))
        self.closing()
        return self.messages


def utterances(messages: list[dict]) -> int:
    """Turns in SGD's sense: user utterances and assistant replies (not calls, not tool results)."""
    n, after_call = 0, False
    for m in messages:
        if m["role"] == "user":
            n += 0 if after_call else 1
            after_call = False
        else:
            name = call_name(m)
            after_call = name != RESPOND
            n += name == RESPOND
    return n


def simulate(
    bank: Bank,
    topic: str,
    window: tuple[int, int],
    seed: str,
    cuisines: list[str],
    dialogue_id: str,
    tries: int = 40,
    mint: float = 0.0,
) -> tuple[list[dict], dict]:
    """One conversation of `topic` whose length falls in `window` (closest of `tries` walks otherwise)."""
    rng = random.Random(seed)
    booking = booking_outcome(bank, rng)
    best = None
    for attempt in range(tries):
        walk = Walk(bank, rng, topic, dialogue_id, cuisines, mint, booking)
        try:
            msgs = walk.run()
        except Budget:
            continue
        n = utterances(msgs)
        gap = max(window[0] - n, n - window[1], 0)
        if best is None or gap < best[0]:
            best = (
                gap,
                msgs,
                {**walk.meta, "seeds": sorted(walk.meta["seeds"]), "turns": n, "walks": attempt + 1},
            )
        if gap == 0:
            break
    if best is None:
        raise Budget(f"no walk of topic {topic} could be realised from this bank")
    return best[1], best[2]
