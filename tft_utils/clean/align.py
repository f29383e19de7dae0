"""Align: map foreign tool and parameter names (and enum values) onto the target schema (STUDY §4.2).

Evidence is of two kinds, both read from the scenario's traces alone:
- names: the words of a name (camelCase/snake_case split) against hand-written synonyms of each target
  slot, SGD-X style ("dining_time" -> time, "type_of_food" -> cuisine), plus string similarity;
- values: what a name carries - a value like "18:30" can only be a time, "2019-03-05" a date, "4" a party
  size, "True" a flag, "pricey" a price; a city or cuisine seen under a confidently named key elsewhere in
  the scenario (a catalogue built in a first pass) pulls an ambiguous key ("restaurant") towards it.
One mapping per trace (a trace's renaming is consistent), applied to its calls and its tool results.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections import Counter, defaultdict

from tft_utils.domain.calls import read_call, read_results, write_call
from tft_utils.domain.tools import FIND, RESERVE, RESPOND, RESULT_SLOTS, TARGET, parameters
from tft_utils.domain.values import KIND_OF_SLOT, normalise_value, value_kind

# Words that name each target slot in other schemas (SGD-X-like human renamings).
SYNONYMS = {
    "restaurant_name": {"name", "establishment", "business", "venue", "eatery", "place", "restaurant"},
    "city": {"city", "location", "locale", "area", "town", "where", "place"},
    "cuisine": {"cuisine", "food", "category", "dish", "type", "kind", "style"},
    "price_range": {"price", "pricing", "cost", "band", "budget", "range", "expense"},
    "has_live_music": {"music", "live", "entertainment", "band", "performance"},
    "serves_alcohol": {"alcohol", "liquor", "drinks", "bar", "alcoholic", "booze"},
    "phone_number": {"phone", "contact", "number", "telephone", "tel"},
    "street_address": {"address", "street", "location"},
    "date": {"date", "day"},
    "time": {"time", "hour", "clock"},
    "party_size": {"party", "size", "guests", "seats", "people", "persons", "dining", "diners", "number"},
}
FUNCTION_WORDS = {
    FIND: {"find", "search", "locate", "lookup", "finder", "discover", "query", "get", "list", "restaurants"},
    RESERVE: {"reserve", "reservation", "reservations", "book", "booking", "table", "make", "schedule"},
    RESPOND: {"respond", "reply", "message", "say", "answer", "tell", "user"},
}
STOP = {
    "of",
    "the",
    "a",
    "to",
    "for",
    "by",
    "with",
    "using",
    "is",
    "yes",
    "no",
    "or",
    "flag",
    "desired",
    "available",
    "served",
    "serves",
    "has",
    "details",
    "estimated",
    "info",
}
SHARED_KINDS = {"bool", "text"}  # kinds more than one slot carries


def words(name: str) -> list[str]:
    """'SearchRestaurantsByCuisine' / 'type_of_food' -> lower-case words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


# --------------------------------------------------------------------------- name evidence


@functools.lru_cache(maxsize=65536)  # a few hundred distinct names, scored ~300k times by a 5-scenario plan
def name_score(name: str, slot: str) -> float:
    """0..1: how well a foreign key's words name a target slot."""
    ws = [w for w in words(name) if w not in STOP]
    if name == slot:
        return 1.0
    sim = difflib.SequenceMatcher(None, name.lower(), slot).ratio()
    if not ws:
        return 0.5 * sim
    hits = sum(w in SYNONYMS[slot] or w.rstrip("s") in SYNONYMS[slot] for w in ws)
    return max(0.5 * sim, hits / len(ws) * (0.6 + 0.4 * sim))


@functools.lru_cache(maxsize=65536)
def function_score(name: str, target: str) -> float:
    if name == target:
        return 1.0
    ws = words(name)
    hits = sum(w in FUNCTION_WORDS[target] for w in ws)
    return hits / max(1, len(ws)) * 0.9


# --------------------------------------------------------------------------- the mapping


def catalogue(traces: list[dict], min_score: float = 0.8) -> dict[str, Counter]:
    """Pass 1: values seen under keys whose *name* alone maps confidently (for value evidence)."""
    cat: dict[str, Counter] = defaultdict(Counter)
    for t in traces:
        for key, v in _keyed_values(t):
            best = max(RESULT_SLOTS, key=lambda s: name_score(key, s))
            if name_score(key, best) >= min_score and value_kind(v) == "text":
                cat[best][str(v).lower()] += 1
    return cat


def _keyed_values(trace: dict):
    for m in trace["messages"]:
        if m.get("role") == "assistant":
            call = read_call(m)
            if call and call["name"] != RESPOND:
                yield from call["arguments"].items()
        else:
            for r in read_results(m) or []:
                yield from r.items()


def value_score(values: list, slot: str, cat: dict[str, Counter]) -> float:
    """0..1: share of a key's values that fit the slot (kind, and catalogue for free text)."""
    if not values:
        return 0.0
    fit = 0.0
    for v in values:
        kind = value_kind(v)
        if kind != KIND_OF_SLOT[slot]:
            continue
        if kind == "text":
            seen = {s: cat.get(s, Counter())[str(v).lower()] for s in ("city", "cuisine", "restaurant_name")}
            total = sum(seen.values())
            fit += seen[slot] / total if total else 0.34
        else:
            fit += 1.0
    return fit / len(values)


def map_trace(trace: dict, cat: dict, params: dict) -> dict:
    """The mapping of one trace: {"functions": {foreign: target}, "keys": {foreign: target},
    "dropped_keys": [...], "evidence": {foreign: text}}."""
    w_name = params["name_weight"]
    values: dict[str, list] = defaultdict(list)
    names = Counter()
    for m in trace["messages"]:
        call = read_call(m) if m.get("role") == "assistant" else None
        if call:
            names[call["name"]] += 1
    for key, v in _keyed_values(trace):
        values[key].append(v)
    # Keys: greedy assignment by combined score, best pairs first, one foreign key per slot.
    scored = []
    for key, vals in values.items():
        for slot in RESULT_SLOTS:
            ns, vs = name_score(key, slot), value_score(vals, slot, cat)
            scored.append((w_name * ns + (1 - w_name) * vs, ns, vs, key, slot))
    keys, evidence, used = {}, {}, set()
    for score, ns, vs, key, slot in sorted(scored, reverse=True):
        if key in keys or slot in used or score < params["min_key_score"]:
            continue
        if KIND_OF_SLOT[slot] in SHARED_KINDS and ns < params["min_name_score"]:
            continue  # a flag or a free text needs its name to say which slot it is
        keys[key], evidence[key] = (
            slot,
            f"-> {slot}: name {ns:.2f}, values {vs:.2f} ({len(values[key])} seen)",
        )
        used.add(slot)
    dropped = sorted(k for k in values if k not in keys)
    for k in dropped:
        evidence[k] = "no target slot fits (dropped)"
    # Functions: name words, then the mapped keys they carry (time/party_size -> reserve; cuisine -> find).
    functions = {}
    for name in names:
        if name in TARGET:
            functions[name] = name
            continue
        carried = Counter()
        for m in trace["messages"]:
            call = read_call(m) if m.get("role") == "assistant" else None
            if call and call["name"] == name:
                carried.update(keys.get(k, k) for k in call["arguments"])
        n_calls = names[name]
        by_value = {
            FIND: (carried["cuisine"] + carried["price_range"]) / n_calls,
            RESERVE: (carried["time"] + carried["party_size"] + carried["restaurant_name"]) / n_calls / 2,
            RESPOND: float(
                set(carried) <= {"message"} or len(carried) == 1 and max(carried.values()) >= n_calls
            ),
        }
        score = {f: w_name * function_score(name, f) + (1 - w_name) * min(1.0, by_value[f]) for f in TARGET}
        best = max(score, key=score.get)
        if score[best] >= params["min_function_score"]:
            functions[name] = best
            evidence[name] = f"-> {best}: " + ", ".join(f"{f} {s:.2f}" for f, s in score.items())
        else:
            evidence[name] = "no target function fits"
    return {"functions": functions, "keys": keys, "dropped_keys": dropped, "evidence": evidence}


def apply_mapping(trace: dict, mapping: dict) -> dict:
    """A copy of the trace with calls and results renamed; keys the target lacks are dropped."""
    out = copy.deepcopy(trace)
    keys = mapping["keys"]
    for m in out["messages"]:
        if m.get("role") == "assistant":
            call = read_call(m)
            if not call:
                continue
            name = mapping["functions"].get(call["name"], call["name"])
            if name == RESPOND:
                text = next((v for v in call["arguments"].values() if isinstance(v, str)), "")
                write_call(
                    m, {"name": RESPOND, "arguments": {"message": call["arguments"].get("message", text)}}
                )
                continue
            allowed = set(parameters(name))
            args = {}
            for k, v in call["arguments"].items():
                slot = keys.get(k, k)
                if slot in allowed or name not in TARGET:
                    args[slot] = normalise_value(slot, v)
            write_call(m, {"name": name, "arguments": args})
        else:
            res = read_results(m)
            if res is not None:
                mapped = [
                    {keys[k]: normalise_value(keys[k], v) for k, v in r.items() if k in keys} for r in res
                ]
                m["content"] = json.dumps([dict(sorted(r.items())) for r in mapped])
    return out


def align(traces: list[dict], params: dict) -> tuple[list[dict], list[dict]]:
    """Align every trace; return (aligned traces, one report row per trace with the mapping found)."""
    cat = catalogue(traces, params["catalogue_min_score"])
    aligned, report = [], []
    for t in traces:
        mapping = map_trace(t, cat, params)
        aligned.append(apply_mapping(t, mapping))
        changed = {k: v for k, v in {**mapping["functions"], **mapping["keys"]}.items() if k != v}
        report.append(
            {
                "dialogue_id": t["dialogue_id"],
                "renamed": changed,
                "dropped_keys": mapping["dropped_keys"],
                "evidence": mapping["evidence"],
            }
        )
    return aligned, report
