"""`tft plan`'s student: the tokens each arm trains and predicts over its seeds (train/loop.py's budget
rule on the conversations each arm trains on) and the device hours at the throughputs stated in `params.plan`
(or measured, plan/throughput.py).

A plan made mid-run counts only the work left: a seed whose model 05 would keep (its fingerprint matches
the training files the run folder holds, on the base as built) costs no training, and one whose
predictions 06 would keep costs no predicting, by the same rules (`tft_utils.core.fresh`) the stages apply.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from tft_utils.core.io import DataError
from tft_utils.plan.calls import Tokens
from tft_utils.plan.inputs import Data, sample_seeds, scenario_traces


@dataclass
class Student:
    """One scenario x arm: training and prediction tokens over all its seeds."""

    scenario: str
    arm: str
    seeds: int
    conversations: int
    sequences: int
    steps: int
    train_tokens: int
    predict_tokens: int
    train_hours: float  # what is left: seeds already trained (or predicted) and current count 0
    predict_hours: float
    note: str = ""
    trained: int = 0  # seeds whose model is current
    predicted: int = 0  # seeds whose predictions are current


def conversation_tokens(messages: list[dict], tools: list[dict], tokens: Tokens) -> int:
    """The student's text of one conversation: our task prompt with the tools, then every message."""
    from tft_utils.evaluate.predict_endpoint import request

    try:
        return tokens.prompt(request(messages, tools))
    except (DataError, KeyError, TypeError, ValueError):
        return tokens.prompt(messages)


def train_estimate(lengths: list[int], params: dict) -> tuple[int, int, int]:
    """(sequences, optimizer steps, tokens trained) for one seed of one arm (train/loop.py's budget rule)."""
    cfg = params["train"]
    budget = int(cfg["max_tokens"])
    if not lengths:
        return 0, 0, 0
    seqs = sum(math.ceil(n / budget) for n in lengths)  # split: a long conversation continues
    total = sum(lengths)
    steps = cfg["max_steps"] or math.ceil(cfg["epochs"] * seqs / cfg["conversations_per_step"])
    trained = steps * cfg["conversations_per_step"] * total / seqs
    return seqs, int(steps), int(trained)


def predict_tokens(
    test: list[dict], pairs: list[dict], tools: list[dict], tokens: Tokens, params: dict
) -> int:
    """One model's prediction: each test conversation read once, plus the answers written (at most
    predict.max_new_tokens each)."""
    read = sum(conversation_tokens(t["messages"], tools, tokens) for t in test)
    written = sum(min(tokens.text(p["answer"]) + 4, params["predict"]["max_new_tokens"]) for p in pairs)
    return read + written


def turn_lengths(messages: list[dict], tools: list[dict], tokens: Tokens) -> list[int]:
    """unit=turn: one sequence per assistant turn, the conversation up to and including it."""
    return [
        conversation_tokens(messages[: i + 1], tools, tokens)
        for i, m in enumerate(messages)
        if m.get("role") == "assistant"
    ]


def student_rows(scenario, params, paths, data: Data, pipelines, cleaned, pairs, tokens, first: bool):
    from tft_utils.data.traces import load_traces
    from tft_utils.evaluate.compare import base_predictions_path
    from tft_utils.train.render import load_tools

    tools = load_tools(data.folder / "tools.json")
    plan, n_seeds = params["plan"], len(params["run"]["seeds"])
    unit = params["train"]["unit"]
    base, base_row = students_base(scenario, params, tokens, first)

    def lengths(convs: list[dict]) -> list[int]:
        if unit == "turn":
            return [n for c in convs for n in turn_lengths(c["messages"], tools, tokens)]
        return [conversation_tokens(c["messages"], tools, tokens) for c in convs]

    per_model = predict_tokens(load_traces(data.folder / "test.jsonl"), pairs, tools, tokens, params)

    def hours(n: int, key: str) -> float:
        return round(n / float(plan[key]) / 3600, 4)

    out = [base_row] if base_row else []
    if first:
        done = int(current(base_predictions_path(paths, params), base, paths, params))
        note = "predicted already" if done else "predicted once per run; every scenario reads it"
        out.append(
            Student(
                scenario,
                "base",
                1,
                0,
                0,
                0,
                0,
                per_model,
                0.0,
                hours(per_model * (1 - done), "predict_tokens_per_s"),
                note,
                predicted=done,
            )
        )
    sets = {}
    if "direct" in pipelines:
        sets["direct"] = (
            scenario_traces(scenario, data, params, paths) if cleaned is None else cleaned.traces,
            "",
        )
    if "tft" in pipelines and cleaned is not None:
        what = params["train"]["tft_data"]
        convs = list(cleaned.kept) * ("seeds" in what)
        note = ""
        if "synthetic" in what:
            # n synthetic conversations, each as long as a seed on average
            seeds = (
                sample_seeds(cleaned.kept, params["synth"]["n_seeds"], params["run"]["seed"]) or cleaned.kept
            )
            n = int(params["synth"]["n"])
            convs += [seeds[i % len(seeds)] for i in range(n)] if seeds else []
            note = f"{n} synthetic conversations as long as the seeds on average"
        sets["tft"] = (convs, note)
    for arm, (convs, note) in sets.items():
        seqs, steps, trained = train_estimate(lengths(convs), params)
        done, predicted = done_seeds(arm, params, paths, base)
        out.append(
            Student(
                scenario,
                arm,
                n_seeds,
                len(convs),
                seqs,
                steps,
                trained * n_seeds,
                per_model * n_seeds,
                hours(trained * (n_seeds - len(done)), "train_tokens_per_s"),
                hours(per_model * (n_seeds - len(predicted)), "predict_tokens_per_s"),
                note,
                len(done),
                len(predicted),
            )
        )
    return out


def current(predictions: Path, model, paths: dict, params: dict) -> bool:
    """06's rule: predictions kept when their fingerprint (the model's, the pairs', decoding) matches."""
    from tft_utils.core import fresh
    from tft_utils.evaluate.compare import predictions_fingerprint

    if model is None or fresh.forced(params) or not predictions.exists():
        return False
    data = paths["data"]
    fp = predictions_fingerprint(str(model), data / "test_pairs.jsonl", data / "tools.json", params)
    return fresh.why_stale(predictions, fp) is None


def done_seeds(arm: str, params: dict, paths: dict, base) -> tuple[list[int], list[int]]:
    """The seeds of `arm` whose model 05 would keep (trained on the arm's files as the run folder holds
    them, from `base`) and, of those, the seeds whose predictions 06 would keep."""
    from tft_utils.core import fresh
    from tft_utils.core.paths import model_dir
    from tft_utils.train.arms import arm_sources, student_fingerprint, training_sets

    if base is None or fresh.forced(params):
        return [], []
    try:
        convs = training_sets(arm_sources(paths, params, [arm]))[arm]
    except (FileNotFoundError, DataError):  # not written yet (or unreadable: 05 will say so)
        return [], []
    trained, predicted = [], []
    for seed in params["run"]["seeds"]:
        model = model_dir(paths, arm, seed)
        fp = student_fingerprint(convs, paths, params, seed, base)
        if model.exists() and fresh.why_stale(model, fp) is None:
            trained.append(seed)
            if current(paths["predictions"] / f"{arm}-seed{seed}.jsonl", model, paths, params):
                predicted.append(seed)
    return trained, predicted


def students_base(scenario: str, params: dict, tokens: Tokens, first: bool):
    """(the model the students start from as it is built now, or None when a run must build it first;
    the tool base's row when this is the first scenario and student.tool_base is sgd). Builds nothing."""
    from tft_utils.train.student import base_model_path

    st = params["student"]
    base = base_model_path(st["model"], st["cache_dir"])
    if st["tool_base"] != "sgd":
        return base, None
    folder, row = tool_base_row(scenario, params, tokens)
    return folder, (row if first else None)


@functools.lru_cache(maxsize=2)  # read once a plan, not once a scenario (~0.9 s each)
def tool_base_dialogues(sgd: str) -> list[dict]:
    from tft_utils.train.tool_base import tool_base_conversations

    return tool_base_conversations(Path(sgd))


def tool_base_row(scenario, params, tokens) -> tuple[Path | None, Student]:
    """student.tool_base: sgd: (its folder when current, else None; its row: the shared base, trained
    once per machine before any student, 0 when its cache is current by the rule a run applies; the plan
    never builds the base model to check)."""
    from tft_utils.data.sgd import resolve_sgd_dir
    from tft_utils.train import tool_base as tb
    from tft_utils.train.student import base_model_path

    try:
        sgd = resolve_sgd_dir(params["data"]["sgd_dir"], None)  # url None: a plan never downloads
    except DataError as e:
        raise DataError(
            f"the tool base (student.tool_base: sgd) is built from SGD's other services, which a plan never "
            f"downloads ({e}); `tft data` downloads them"
        ) from None
    convs = tool_base_dialogues(str(sgd))
    base = base_model_path(params["student"]["model"], params["student"]["cache_dir"])
    folder = tb.built_tool_base(params, base, convs)
    if folder is not None:
        return folder, Student(
            scenario, "tool base", 1, len(convs), 0, 0, 0, 0, 0.0, 0.0, "cached: built before", 1
        )
    lengths = [conversation_tokens(c["messages"], c["tools"], tokens) for c in convs]
    recipe = {**params, "train": tb.tool_base_recipe(params)["train"]}
    seqs, steps, trained = train_estimate(lengths, recipe)
    note = "built once per machine, then shared by every scenario, arm and seed"
    hours = round(trained / float(params["plan"]["tool_base_tokens_per_s"]) / 3600, 4)
    return None, Student(
        scenario,
        "tool base",
        1,
        len(convs),
        seqs,
        steps,
        trained,
        0,
        hours,  # every layer adapted: slower than the students (params.plan.tool_base_tokens_per_s)
        0.0,
        note,
    )
