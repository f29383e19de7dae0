"""Validate synthetic conversations (STUDY §4.4, §8): drop what fails to parse, breaks the tool
schema, exceeds the length limit, near-duplicates a seed, another synthetic conversation or any
test conversation, or scores low with the judge. Every rejection keeps its reasons.

Near-duplicates: Jaccard similarity of the sets of word n-grams of the user and assistant text
(tool results left out: they are catalogue rows, not writing). An inverted index over n-grams keeps
it exact and fast: a candidate is compared only with conversations it shares an n-gram with.

Grounding (`grounding.check_grounding`, the same check for every teacher): a candidate with a call
value nobody said or returned, a reply stating a name, address, phone, price or fact no tool result
gives, a booking announced without a successful ReserveRestaurant, or an offer to book whose details
are not the call's, is rejected with a `grounding:<kind>` reason; every candidate's verdict is kept.

Leakage (STUDY §8): a candidate whose nearest test conversation reaches `dup_test` is rejected as a
near-duplicate of it; `Validator.leaks` counts them (synth_stats.json: `leakage`).

Rules judge (1-5): counts violations of coherence (calls followed by results, results that match
their call, a reply after each result, turns that alternate), grounding of call values (as above),
and replies that contradict the tool results (`domain.replies.judge_reply`); 0 violations -> 5, 1 -> 4,
2 -> 3, 3-4 -> 2, more -> 1.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from tft_utils.domain.calls import call_name, call_of
from tft_utils.domain.tools import ECHOED_SLOTS, RESPOND
from tft_utils.synth.grounding import CALL_VALUE, check_grounding
from tft_utils.synth.lexicon import events

PROMPT_VERSION = "synth-judge-v1"
# SGD's system states the defaults it will book with ("a table for 2 people today"): not a contradiction.
DEFAULT_STATED = re.compile(r"'[^']*\b(2|two)\b[^']*', a party size nobody asked for")
JUDGE_PROMPT = """You review one synthetic conversation of a restaurant assistant that talks only through tool calls.
Tools: {tools}
Score it 1-5: 5 = every service call uses values the user gave or a tool returned, each call is followed by
its results, and every reply is consistent with what the user said and the tools returned; 3 = one or two
calls or replies out of place; 1 = incoherent. Answer with JSON only: {{"score": <1-5>, "reason": "<one sentence>"}}"""


# ---------------------------------------------------------------- text, length, schema


def dialogue_text(row: dict) -> str:
    """User utterances and assistant replies, lower-cased (what near-duplicates are measured on)."""
    return " ".join(ev["text"] for ev in events(row) if ev["kind"] in ("user", "say")).lower()


def shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))}


def turns(row: dict) -> int:
    """User utterances + assistant replies (SGD turns; calls and tool results not counted)."""
    return sum(ev["kind"] in ("user", "say") for ev in events(row))


def schema_errors(row: dict, tools: dict[str, dict]) -> list[str]:
    """Calls to unknown functions, missing required or unknown parameters, non-string values."""
    errors = []
    for i, msg in enumerate(row.get("messages", [])):
        if msg.get("role") != "assistant":
            continue
        calls = msg.get("tool_calls") or []
        if len(calls) != 1:
            errors.append(f"message {i}: {len(calls)} tool calls (exactly one expected)")
            continue
        fn = calls[0].get("function") or {}
        name, args = fn.get("name"), fn.get("arguments")
        try:
            args = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            errors.append(f"message {i}: arguments of {name} are not a JSON object")
            continue
        if name not in tools:
            errors.append(f"message {i}: unknown function {name}")
            continue
        spec = tools[name]
        missing = sorted(set(spec.get("required", [])) - set(args))
        unknown = sorted(set(args) - set(spec.get("properties", {})))
        if missing:
            errors.append(f"message {i}: {name} misses required {', '.join(missing)}")
        if unknown:
            errors.append(f"message {i}: {name} has unknown parameter(s) {', '.join(unknown)}")
        if any(not isinstance(v, str) for v in args.values()):
            errors.append(f"message {i}: {name} has non-string values")
    return errors


def tool_specs(tools: list[dict]) -> dict[str, dict]:
    """tools.json (OpenAI tool list) -> {name: parameters schema}."""
    return {t["function"]["name"]: t["function"].get("parameters", {}) for t in tools}


# ---------------------------------------------------------------- near-duplicates


class NearDup:
    """Exact Jaccard over word n-gram sets, with an inverted index (n-gram -> conversations)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sets: dict[str, set] = {}
        self.index: dict[tuple, list[str]] = {}
        self.rank: dict[str, int] = {}  # order of addition: the first one added wins a tie

    def add(self, key: str, text: str) -> None:
        grams = shingles(text, self.n)
        self.sets[key] = grams
        self.rank.setdefault(key, len(self.rank))
        for g in grams:
            self.index.setdefault(g, []).append(key)

    def nearest(self, text: str, exclude: str | None = None) -> tuple[str | None, float]:
        grams = shingles(text, self.n)
        overlap = Counter(k for g in grams for k in self.index.get(g, ()) if k != exclude)
        best, score = None, 0.0
        # by rank, not in the Counter's order: that follows the n-gram set's, i.e. the string hash
        for key, inter in sorted(overlap.items(), key=lambda kv: self.rank[kv[0]]):
            jac = inter / (len(grams) + len(self.sets[key]) - inter)
            if jac > score:
                best, score = key, jac
        return best, score


# ---------------------------------------------------------------- the rules judge


def judge_conversation(row: dict, grounding=None) -> tuple[int, list[str]]:
    """Rules judge: (score 1-5, the violations found); `grounding`: the row's check_grounding, if known."""
    from tft_utils.domain.replies import build_context, judge_reply

    evs, issues = events(row), []
    msgs = row["messages"]
    if not evs or evs[0]["kind"] != "user":
        issues.append("does not start with the user")
    if evs and evs[-1]["kind"] != "say":
        issues.append("does not end with an assistant reply")
    for i, ev in enumerate(evs):
        prev = evs[i - 1]["kind"] if i else None
        if ev["kind"] == prev and ev["kind"] in ("user", "say"):
            issues.append(f"event {i}: two {ev['kind']} turns in a row")
        if ev["kind"] == "call" and (i + 1 >= len(evs) or evs[i + 1]["kind"] != "result"):
            issues.append(f"event {i}: {ev['name']} without a result")
        if ev["kind"] == "result":
            call = evs[i - 1].get("args", {})
            for r in ev["results"]:
                bad = [
                    k
                    for k in ECHOED_SLOTS
                    if k in call and isinstance(r, dict) and k in r and r[k] != call[k]
                ]
                if bad:
                    issues.append(f"event {i}: result does not match the call on {', '.join(bad)}")
                    break
            if i + 1 < len(evs) and evs[i + 1]["kind"] != "say":
                issues.append(f"event {i}: no reply after the tool result")
    issues += [  # call values nobody said or returned: the grounding check's rule
        f"message {p.turn}: {p.message}"
        for p in (grounding or check_grounding(row)).problems
        if p.error_type == CALL_VALUE
    ]
    position = 0
    for k, m in enumerate(msgs):  # replies that contradict the tool results
        if m.get("role") == "assistant" and call_name(m) == RESPOND:
            position += 1
            text = call_of(m)[1].get("message", "")
            verdict = judge_reply(text, build_context(msgs[:k]))
            if not verdict.good and not DEFAULT_STATED.search(verdict.reason):
                issues.append(f"reply {position}: {verdict.reason}")
    n = len(issues)
    return (5 if n == 0 else 4 if n == 1 else 3 if n == 2 else 2 if n <= 4 else 1), issues


def llm_judge_requests(rows: list[dict], tools: list[dict]) -> list[list[dict]]:
    names = ", ".join(t["function"]["name"] for t in tools)
    return [
        [
            {"role": "system", "content": JUDGE_PROMPT.format(tools=names)},
            {"role": "user", "content": json.dumps(r["messages"], ensure_ascii=False)},
        ]
        for r in rows
    ]


def parse_judge(text: str | None) -> int | None:
    from tft_utils.llm.backends import parse_json_object

    obj = parse_json_object(text)
    score = obj.get("score") if obj else None
    return score if isinstance(score, int) and 1 <= score <= 5 else None


# ---------------------------------------------------------------- the validator


class Validator:
    """Checks candidates one at a time, in order, against seeds, test and what was accepted before."""

    def __init__(self, seeds: list[dict], test: list[dict] | None, tools: list[dict], cfg: dict):
        self.cfg, self.tools = cfg, tool_specs(tools)
        self.seeds, self.test, self.accepted = (
            NearDup(cfg["ngram"]),
            NearDup(cfg["ngram"]),
            NearDup(cfg["ngram"]),
        )
        for r in seeds:
            self.seeds.add(r["dialogue_id"], dialogue_text(r))
        for r in test or []:
            self.test.add(r["dialogue_id"], dialogue_text(r))
        self.leaks: list[dict] = []  # candidates dropped as near-duplicates of a test conversation
        self.grounding: list[dict] = []  # every parsed candidate's grounding verdict, in order

    def check(self, row: dict | None, parse_error: str | None = None, llm_score: int | None = None) -> dict:
        """{'ok', 'reasons', 'judge', 'nearest': {seed, test, synthetic}}; accepted rows join the index."""
        if row is None:
            return {"ok": False, "reasons": [f"parse: {parse_error}"], "judge": None, "nearest": {}}
        reasons = [f"schema: {e}" for e in schema_errors(row, self.tools)]
        n_turns, n_msgs = turns(row), len(row["messages"])
        if n_turns > self.cfg["max_turns"] or n_msgs > self.cfg["max_messages"]:
            reasons.append(
                f"length: {n_turns} turns, {n_msgs} messages (limit {self.cfg['max_turns']}, "
                f"{self.cfg['max_messages']})"
            )
        text = dialogue_text(row)
        nearest = {}
        for kind, index, limit in (
            ("seed", self.seeds, self.cfg["dup_seed"]),
            ("test", self.test, self.cfg["dup_test"]),
            ("synthetic", self.accepted, self.cfg["dup_synth"]),
        ):
            key, sim = index.nearest(text)
            nearest[kind] = {"id": key, "jaccard": round(sim, 4)}
            if sim >= limit:
                reasons.append(f"near-duplicate of {kind} {key} (jaccard {sim:.2f} >= {limit})")
                if kind == "test":
                    self.leaks.append({"dialogue_id": row.get("dialogue_id"), "test_id": key, "jaccard": sim})
        grounding = check_grounding(row)
        self.grounding.append({"dialogue_id": row.get("dialogue_id"), **grounding.as_dict()})
        reasons += [f"{p.error_type}: message {p.turn}: {p.message}" for p in grounding.problems]
        score, issues = (
            (None, [])
            if reasons and any(r.startswith("schema") for r in reasons)
            else judge_conversation(row, grounding)
        )
        if llm_score is not None:
            score, issues = llm_score, [f"LLM judge score {llm_score}"]
        if score is not None and score < self.cfg["min_judge"]:
            reasons.append(f"judge: score {score} < {self.cfg['min_judge']} ({'; '.join(issues[:3])})")
        ok = not reasons
        if ok:
            self.accepted.add(row["dialogue_id"], text)
        return {
            "ok": ok,
            "reasons": reasons,
            "judge": score,
            "issues": issues,
            "nearest": nearest,
            "grounding": grounding.as_dict(),
            "turns": n_turns,
            "messages": n_msgs,
        }

    def summary(self) -> dict:
        """Grounding of every parsed candidate (before any filtering) and the test near-duplicates dropped."""
        failed = [g for g in self.grounding if not g["valid"]]
        return {
            "grounding": {
                "candidates": len(self.grounding),
                "passed": len(self.grounding) - len(failed),
                "rate": round((len(self.grounding) - len(failed)) / max(1, len(self.grounding)), 4),
                "by_error_type": dict(sorted(Counter(g["error_type"] for g in failed).items())),
            },
            "leakage": {
                "test_near_duplicates_dropped": len(self.leaks),
                "threshold": self.cfg["dup_test"],
                "dropped": [{**x, "jaccard": round(x["jaccard"], 4)} for x in self.leaks],
            },
        }
