"""`tft plan`'s LLM calls: for each LLM stage of a scenario, the requests the stage will send (built by
the stage's own request builder wherever the data is known beforehand), then counted by `StageCounter`:
calls, cache lookups on the real keys, de-duplication across the plan, estimated tokens and cost."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from tft_utils.core.io import read_json, read_jsonl
from tft_utils.llm.backends import cache_dir as llm_cache_dir
from tft_utils.llm.backends import cache_key, endpoint_config
from tft_utils.plan.inputs import Data, clean_view, is_endpoint, sample_seeds, scenario_traces

# (notebook, ledger stage, role): the order a run makes its LLM calls
STAGES = (
    ("03", "filter", "filter"),
    ("03", "relabel", "committee"),
    ("03", "relabel-teacher", "teacher"),
    ("04", "synth", "teacher"),
    ("04", "synth-judge", "judge"),
    ("06", "evaluate", "teacher"),
    ("06", "judge", "judge"),
)
FILTER_REPLY = json.dumps(
    {"relevance": 5, "coherence": 4, "reason": "A restaurant search with sensible replies."}
)
JUDGE_REPLY = json.dumps({"verdict": "good", "reason": "Same function and the same values as the reference."})
SYNTH_JUDGE_REPLY = json.dumps({"score": 5, "reason": "Coherent and grounded in the tool results."})

STAGE_ORDER = {stage: i for i, (_, stage, _) in enumerate(STAGES)}


@dataclass
class Request:
    messages: list[dict]
    reply: str  # the reply expected (its length estimates the output tokens)
    exact: bool  # the very messages the stage will send: cache lookups are meaningful


@dataclass
class Row:
    """One scenario x stage x endpoint."""

    scenario: str
    notebook: str
    stage: str
    role: str
    endpoint: str
    model: str
    basis: str  # exact | estimated
    calls: int = 0
    calls_max: int = 0  # the most calls the stage can make (= calls where they are known)
    cached: int = 0  # in the call cache now
    repeats: int = 0  # asked earlier in this plan (the cache answers them)
    to_send: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    output_max: int | None = 0
    send_input_tokens: int = 0
    send_output_tokens: int = 0
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None
    cost_usd: float | None = None  # every call, as if nothing were cached (the ledger's cost_usd)
    spend_usd: float | None = None  # the calls left to send
    note: str = ""


# -- tokens ----------------------------------------------------------------------------------------
class Tokens:
    """Token estimates from characters (works offline, with no tokenizer)."""

    def __init__(self, cfg: dict) -> None:
        self.cpt = float(cfg["chars_per_token"])
        self.per_message = int(cfg["message_tokens"])

    def text(self, text: str | None) -> int:
        return math.ceil(len(text or "") / self.cpt)

    def prompt(self, messages: list[dict]) -> int:
        return sum(self.text(_content(m)) + self.per_message for m in messages)


def _content(m: dict) -> str:
    c = m.get("content")
    return c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) if c is not None else ""


# -- counting one stage ----------------------------------------------------------------------------
class StageCounter:
    """Turns requests into a Row: tokens, cache lookups and de-duplication across the whole plan."""

    def __init__(self, params: dict, tokens: Tokens, seen: set) -> None:
        self.params, self.tokens, self.seen = params, tokens, seen
        self.cache = llm_cache_dir(params)
        self.reasoning = int(params["plan"]["reasoning_tokens_per_call"])

    def row(
        self, scenario, notebook, stage, role, endpoint, version, requests, note="", calls_max=None
    ) -> Row:
        cfg = endpoint_config(self.params, endpoint)
        max_tokens = (cfg.get("sampling") or {}).get("max_tokens")
        basis = "exact" if requests and all(r.exact for r in requests) else "estimated"
        row = Row(scenario, notebook, stage, role, endpoint, cfg["model"], basis, note=note)
        row.price_in_per_mtok, row.price_out_per_mtok = (
            cfg.get("price_in_per_mtok"),
            cfg.get("price_out_per_mtok"),
        )
        for req in requests:
            n_in = self.tokens.prompt(req.messages)
            n_out = self.tokens.text(req.reply) + self.reasoning
            n_out = min(n_out, max_tokens) if max_tokens else n_out
            row.calls += 1
            row.input_tokens += n_in
            row.output_tokens += n_out
            row.output_max = (
                row.output_max + max_tokens if max_tokens and row.output_max is not None else None
            )
            state = "send"
            if req.exact:
                key = cache_key(cfg["model"], cfg.get("sampling") or {}, version, req.messages)
                if key in self.seen:
                    state = "repeat"
                elif (self.cache / key[:2] / f"{key}.json").exists():
                    state = "cached"
                self.seen.add(key)
            if state == "send":
                row.to_send += 1
                row.send_input_tokens += n_in
                row.send_output_tokens += n_out
            elif state == "cached":
                row.cached += 1
            else:
                row.repeats += 1
        row.calls_max = row.calls if calls_max is None else max(calls_max, row.calls)
        priced = row.price_in_per_mtok is not None or row.price_out_per_mtok is not None
        if priced:
            p_in, p_out = row.price_in_per_mtok or 0.0, row.price_out_per_mtok or 0.0
            row.cost_usd = (row.input_tokens * p_in + row.output_tokens * p_out) / 1e6
            row.spend_usd = (row.send_input_tokens * p_in + row.send_output_tokens * p_out) / 1e6
        return row


def synth_calls(params: dict) -> tuple[int, int]:
    """(estimated teacher calls, most calls): candidates are made in batches until n pass validation
    (`plan.synth_accept` of them, assumed) or n * max_candidates_factor were made."""
    cfg = params["synth"]
    n, batch = int(cfg["n"]), int(cfg["batch"])
    limit = int(n * cfg["max_candidates_factor"])
    wanted = math.ceil(n / max(float(params["plan"]["synth_accept"]), 1e-9))
    return min(limit, math.ceil(wanted / batch) * batch), limit


# -- the LLM stages of one scenario --------------------------------------------------------------------
def llm_rows(scenario: str, params: dict, paths: dict, data: Data, pipelines, count: StageCounter, once: set):
    from tft_utils.clean import filter as filt
    from tft_utils.clean import relabel
    from tft_utils.clean.relabel import read_call
    from tft_utils.evaluate import predict_endpoint
    from tft_utils.evaluate.compare import base_predictions_path
    from tft_utils.evaluate.judge import llm as judge_llm
    from tft_utils.evaluate.metrics import parse_tool_call
    from tft_utils.evaluate.predict import load_pairs
    from tft_utils.synth import pipeline as synth
    from tft_utils.synth import validate
    from tft_utils.train.render import call_text, load_tools

    roles = params["roles"]
    members = [m for m in roles["committee"] if is_endpoint(m)]
    teacher, judge = roles["teacher"], roles["judge"]
    tft = "tft" in pipelines
    rows: list[Row] = []
    cleaned = None
    if tft:
        traces = scenario_traces(scenario, data, params, paths)
        need = bool(members) or is_endpoint(teacher)
        cleaned = clean_view(traces, params, paths, need_aligned=need)
        if is_endpoint(roles["filter"]):
            reqs = [Request(filt._prompt(t), FILTER_REPLY, True) for t in traces]
            rows.append(
                count.row(scenario, "03", "filter", "filter", roles["filter"], filt.PROMPT_VERSION, reqs)
            )
        index = [
            (k, i)
            for k, t in enumerate(cleaned.aligned or [])
            for i, m in enumerate(t["messages"])
            if m.get("role") == "assistant"
        ]
        for member in members:
            reqs = [
                Request(
                    relabel.turn_prompt(cleaned.aligned[k], i),
                    json.dumps(read_call(cleaned.aligned[k]["messages"][i])),
                    cleaned.exact_filter,
                )
                for k, i in index
            ]
            note = "" if cleaned.exact_filter else "turns of the traces the rules filter keeps"
            rows.append(
                count.row(scenario, "03", "relabel", "committee", member, relabel.PROMPT_VERSION, reqs, note)
            )
        if is_endpoint(teacher):
            by_id = {t["dialogue_id"]: k for k, t in enumerate(cleaned.aligned)}
            disputed = [r for r in cleaned.turns if r["masked"] or r["decision"] == "teacher"]
            reqs = [
                Request(
                    relabel.turn_prompt(cleaned.aligned[by_id[r["dialogue_id"]]], r["turn"], r["proposals"]),
                    json.dumps(r["original"]),
                    cleaned.exact_turns,
                )
                for r in disputed
            ]
            note = "" if cleaned.exact_turns else "turns the rules committee disputes (at most: every turn)"
            rows.append(
                count.row(
                    scenario, "03", "relabel-teacher", "teacher", teacher, relabel.PROMPT_VERSION, reqs, note,
                    calls_max=len(index),
                )
            )  # fmt: skip
        tools = read_json(data.folder / "tools.json")
        seeds = sample_seeds(cleaned.kept, params["synth"]["n_seeds"], params["run"]["seed"])
        calls, limit = synth_calls(params)
        k = params["synth"]["examples_per_prompt"]
        if is_endpoint(teacher) and seeds:
            topics = params["synth"]["topics"]
            reqs = []
            for i in range(calls):
                topic = synth.topic_of(i, topics, params["run"]["seed"])
                window = (topics[topic]["min_turns"], topics[topic]["max_turns"])
                example = seeds[(i * k) % len(seeds)]
                reply = json.dumps({"messages": synth.compact(example["messages"])}, ensure_ascii=False)
                reqs.append(Request(synth.teacher_request(seeds, tools, topic, window, i, k), reply, True))
            note = (
                f"{calls} of at most {limit} candidates (plan.synth_accept {params['plan']['synth_accept']})"
            )
            row = count.row(
                scenario, "04", "synth", "teacher", teacher, synth.PROMPT_VERSION, reqs, note, limit
            )
            row.basis = "exact" if calls == limit and cleaned.exact_turns else "estimated"
            rows.append(row)
        if is_endpoint(judge) and seeds:  # every candidate that parses (the rules teacher's: all)
            reqs = [
                Request(
                    validate.llm_judge_requests([seeds[(i * k) % len(seeds)]], tools)[0],
                    SYNTH_JUDGE_REPLY,
                    False,
                )
                for i in range(calls)
            ]
            note = "every candidate parses, each as long as a seed"
            rows.append(
                count.row(
                    scenario, "04", "synth-judge", "judge", judge, validate.PROMPT_VERSION, reqs, note, limit
                )
            )
    pairs = load_pairs(data.folder / "test_pairs.jsonl")
    if is_endpoint(teacher):
        tools = load_tools(data.folder / "tools.json")
        reqs = []
        for p in pairs:
            gold = json.loads(p["answer"]) if isinstance(p["answer"], str) else p["answer"]
            reply = call_text(gold["name"], gold.get("parameters") or {})
            reqs.append(Request(predict_endpoint.request(p["_messages"], tools), reply, True))
        rows.append(
            count.row(scenario, "06", "evaluate", "teacher", teacher, predict_endpoint.PROMPT_VERSION, reqs)
        )
    if is_endpoint(judge) and params["evaluate"]["judge"] == "llm":
        arms = [("base", base_predictions_path(paths, params))]
        arms += [("teacher", paths["predictions"] / "teacher.jsonl")] * is_endpoint(teacher)
        arms += [
            (arm, paths["predictions"] / f"{arm}-seed{seed}.jsonl")
            for arm in ("direct", "tft")
            if arm in pipelines
            for seed in params["run"]["seeds"]
        ]
        reqs, estimated = [], []
        for arm, pred in arms:
            if pred.exists():
                for r in read_jsonl(pred):
                    if parse_tool_call(r.get("prediction")) is not None:
                        msgs = judge_llm.judge_request(r["question"], r["answer"], r["prediction"])
                        reqs.append(Request(msgs, JUDGE_REPLY, True))
            elif arm in ("base", "teacher") and arm in once:
                continue  # the same predictions in every scenario: judged once
            else:
                once.add(arm) if arm in ("base", "teacher") else None
                estimated.append(arm)
                for p in pairs:
                    gold = json.loads(p["answer"]) if isinstance(p["answer"], str) else p["answer"]
                    pred_text = call_text(gold["name"], gold.get("parameters") or {})
                    msgs = judge_llm.judge_request(p["question"], p["answer"], pred_text)
                    reqs.append(Request(msgs, JUDGE_REPLY, False))
        note = f"every prediction parses ({', '.join(estimated)}: not predicted yet)" if estimated else ""
        rows.append(count.row(scenario, "06", "judge", "judge", judge, judge_llm.PROMPT_VERSION, reqs, note))
    return rows, cleaned, pairs
