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

from tft_utils.synth_lex import RESPOND, TODAY, fill
from tft_utils.synth_rules import BOOL_SLOTS, CONSTRAINTS, Bank

PRICES = ("inexpensive", "moderate", "expensive", "very expensive")
RESERVE_SLOTS = {"time", "date", "party_size"}


class Budget(Exception):
    """A needed act has no usable template (not even the fallback): this walk is abandoned."""


def knobs(topic: str, rng: random.Random) -> dict:
    """How eventful a conversation of this topic is; the length window then accepts or rejects it."""
    r, ri = rng.random, rng.randint
    if topic == "short":  # an early search, then straight to booking
        return dict(
            reserve_only=False,
            alts=0,
            asks=0,
            negates=0,
            affirm_asks=r() < 0.3,
            offer_intent=r() < 0.4,
            failure=False,
            asks_after=0,
            req_more=r() < 0.3,
            open_full=r() < 0.7,
        )
    if topic == "short_medium":
        return dict(
            reserve_only=r() < 0.4,
            alts=ri(0, 1),
            asks=ri(0, 1),
            negates=ri(0, 1),
            affirm_asks=r() < 0.4,
            offer_intent=r() < 0.5,
            failure=r() < 0.1,
            asks_after=ri(0, 1),
            req_more=r() < 0.5,
            open_full=r() < 0.4,
        )
    if topic == "medium":  # search and reservation
        return dict(
            reserve_only=False,
            alts=ri(0, 1),
            asks=ri(0, 1),
            negates=ri(0, 1),
            affirm_asks=r() < 0.5,
            offer_intent=r() < 0.5,
            failure=r() < 0.15,
            asks_after=ri(0, 1),
            req_more=r() < 0.6,
            open_full=r() < 0.3,
        )
    return dict(
        reserve_only=r() < 0.1,
        alts=ri(1, 2),
        asks=ri(0, 2),
        negates=ri(1, 2),
        affirm_asks=r() < 0.5,
        offer_intent=r() < 0.5,
        failure=r() < 0.3,
        asks_after=ri(0, 2),
        req_more=True,
        open_full=False,
    )


class Walk:
    """Builds one conversation; `messages` is the trace, `meta` says where each utterance came from."""

    def __init__(self, bank: Bank, rng: random.Random, topic: str, dialogue_id: str, cuisines: list[str]):
        self.bank, self.rng, self.topic, self.did = bank, rng, topic, dialogue_id
        self.k = knobs(topic, rng)
        self.messages: list[dict] = []
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
            "price_range": rng.choice(PRICES),
        }
        self.defaults = {"date": TODAY.isoformat(), "party_size": "2"}  # what SGD assumes when unsaid
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
        t = self.rng.choice(fits)
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

    def system(self, act: str, need: set = frozenset(), allow: set | None = None) -> None:
        t = self._pick(act, need, allow)
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
            r.update(city=self.v["city"], cuisine=self.v["cuisine"])
            r.update({s: v for s, v in self.search.items() if s in CONSTRAINTS})  # results match the search
            out.append(r)
        return out

    # ---- the flow ----
    def search_phase(self) -> None:
        allow = {"city", "cuisine", "price_range"} if self.k["open_full"] else {"city"}
        t = self.user("open_find", allow=allow)
        self.search = {"city": self.v["city"], "cuisine": self.v["cuisine"], **t.get("constraints", {})}
        if "price_range" in t["slots"]:
            self.search["price_range"] = self.v["price_range"]
        self.fill_in({"city", "cuisine"} - t["slots"])
        self.find()
        for _ in range(self.k["alts"]):
            self.v["price_range"] = self.rng.choice(
                [p for p in PRICES if p != self.search.get("price_range")]
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
        self.tool("FindRestaurants", self.search, self.results)
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

    def fill_in(self, missing: set) -> set:
        """System requests for the missing slots (one or several at once) until the user gave all;
        returns the slots the user gave (a reply may give a missing slot nobody asked for yet)."""
        given: set = set()
        missing = set(missing)
        while missing:
            known = {"city", "cuisine", "time", "restaurant_name"} - missing
            t = self._pick("request", allow=known, ok=lambda t: bool(t["requests"]) and t["requests"] <= missing)
            self.say(fill(t["text"], self._values(), self.rng, "assistant"))
            asked = t["requests"]
            got = self.user("inform", allow=missing, ok=lambda u: bool(u["slots"] & asked))
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
        for slot in RESERVE_SLOTS - told:
            self.v[slot] = self.defaults[slot]  # unsaid: SGD books for 2, today
        self.system("confirm", need={"restaurant_name", "time"})
        for _ in range(self.k["negates"]):
            self.negate()
        asks = self.ask(affirm=True) if self.k["affirm_asks"] else set()
        if not self.k["affirm_asks"]:
            self.user("affirm", allow=set(), ok=lambda t: not t["asks"])
        if self.k["failure"]:
            self.tool("ReserveRestaurant", self._booking(), [])
            self.system("failure", allow=set())
            self.v["time"] = self._other_time()
            self.user("retry", need={"time"}, allow=RESERVE_SLOTS)
            self.system("confirm", need={"restaurant_name", "time"})
            self.user("affirm", allow=set(), ok=lambda t: not t["asks"])
            asks = set()
        booking = self._booking()
        self.tool("ReserveRestaurant", booking, [{**self.focus, **booking}])
        self.say(self.facts_text(asks, lead="success"))

    def negate(self) -> None:
        t = self.user("negate", allow=RESERVE_SLOTS, ok=lambda t: bool(t["slots"] & RESERVE_SLOTS))
        changed = t["slots"] & RESERVE_SLOTS
        # the user's words were filled with the old values: re-render with new ones
        for slot in changed:
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
            name = m["tool_calls"][0]["function"]["name"]
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
) -> tuple[list[dict], dict]:
    """One conversation of `topic` whose length falls in `window` (closest of `tries` walks otherwise)."""
    rng = random.Random(seed)
    best = None
    for attempt in range(tries):
        walk = Walk(bank, rng, topic, dialogue_id, cuisines)
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
