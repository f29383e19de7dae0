"""`tft plan --measure`: the student's throughputs measured on this machine, in place of the figures
`params.plan` assumes.

The plan's device hours are tokens / throughput, and `params.plan` states throughputs measured on our
2-core AMX Xeons (750 tokens/s training the cpu students). Other machines are off by 2x and more: a
2-core AMD EPYC without AMX trains the same students at ~390-430 tokens/s, 2 avx2 cores in float32 at
~195, and a 16-core machine faster than any of them. `--measure` times this package's own code here, for
the resolved recipe (~100-120 s on 2 cores, once):

- training: `train()` on the train-pool conversation that makes one sequence as long as the pool's mean
  training sequence, WARMUP + TIMED optimizer steps; the rate counts the timed steps only (the warm-up
  pays compiling and the kernels built for that width, which a real run pays once per width). Side by
  side on a 2-core EPYC, S1: 397 and 381 tokens/s measured, 386 and 388 over 60 steps of the real pool;
- the tool base (`student.tool_base: sgd`): the same with its recipe (adapters on every layer) on one of
  its dialogues;
- predicting: `predict()` on every pair of PREDICT_CONVERSATIONS test conversations of about the median
  length, with the tool base when it is built (see measure_rates), else the untuned base model;
- with `run.jobs` > 1 (notebooks 05 and 06 train and predict that many models at a time, core/workers.py):
  the same training and prediction again, `run.jobs` copies side by side on their share of the threads;
  what the machine does an hour side by side over what it does one model at a time is the plan's factor
  from each model's hours to the machine's (1.1-1.3x with 2 on a 2-core AMD EPYC, scripts/bench_jobs.py).

The rates count the plan's own tokens (characters / `plan.chars_per_token` + `plan.message_tokens` a
message, as every other count of the plan; training's by the pool's ratio of plan to real tokens), so
hours = plan tokens / rate come out right whatever the tokenizer's real characters per token; the real
tokens/s are kept beside them. The result is kept in the model cache, named by what sets the speed -
the machine (CPU model, ISA flags, logical CPUs, thread settings, CUDA device), torch's version, the
student, the recipe's speed knobs (not its learning rate or steps) and the code that trains and
predicts - so later plans (and `tft run`'s) on the same machine and recipe use it without measuring
again; `--measure` measures afresh.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from tft_utils.core import fresh
from tft_utils.core.io import read_json, write_json
from tft_utils.plan.calls import Tokens
from tft_utils.plan.student import conversation_tokens, predict_tokens

WARMUP = 3  # steps before timing: the first compiles the layers (inductor) and builds the width's kernels
TIMED = 8  # steps timed (S1, the students' recipe, 2-core EPYC without AMX: ~2 s each, +-10% step to step)
PREDICT_CONVERSATIONS = 8  # of the 34 test conversations (~85 pairs decoded together: the batch is the speed)
# What sets a training step's speed (not lr, steps, warmup, seed, the LoRA+ ratio or the data mix)
TRAIN_SPEED = (
    "unit",
    "max_tokens",
    "long_policy",
    "conversations_per_step",
    "micro_batch",
    "pad_multiple",
    "method",
    "compile",
    "fast_step",
    "amp",
    "lora_r",
    "lora_layers",
    "target_modules",
)
PREDICT_SPEED = ("method", "max_new_tokens", "batch_streams")
# what the speeds measured depend on: the code that trains and predicts (fresh.code_of) and how it is measured
SPEED_ROOTS = ("train/loop.py", "evaluate/predict.py")
FIGURES = ("train_tokens_per_s", "tool_base_tokens_per_s", "predict_tokens_per_s")


def fingerprint(params: dict) -> dict:
    """What the measured rates depend on (its digest names the cached file)."""
    import torch  # imported first, so that torch's thread count is part of the machine

    from tft_utils.core.provenance import machine_info
    from tft_utils.train.tool_base import tool_base_recipe

    m = machine_info()
    st = params["student"]
    base_recipe = tool_base_recipe(params)["train"] if st["tool_base"] == "sgd" else None
    what = {
        "machine": {k: m[k] for k in ("cpu", "logical_cpus", "env_threads", "torch_threads", "cuda_device")},
        "torch": torch.__version__,
        "student": {k: st[k] for k in ("model", "device", "dtype", "tool_base")},
        "train": {k: params["train"][k] for k in TRAIN_SPEED},
        "tool_base": base_recipe and {k: base_recipe[k] for k in TRAIN_SPEED},
        "predict": {k: params["predict"][k] for k in PREDICT_SPEED},
        "jobs": params["run"]["jobs"],  # > 1: the side-by-side factors are measured too
    }
    return fresh.make("throughput", what, code=(*fresh.code_of(*SPEED_ROOTS), "plan/throughput.py"))


def cache_path(params: dict, fp: dict) -> Path:
    from tft_utils.train.student import cache_root

    return cache_root(params["student"]["cache_dir"]) / "throughput" / f"{fp['digest'][:16]}.json"


def cached(params: dict) -> dict | None:
    """The measurement kept for this machine and recipe, or None."""
    fp = fingerprint(params)
    path = cache_path(params, fp)
    if not path.exists():
        return None
    found = read_json(path)
    return found if found.get("digest") == fp["digest"] else None


def rates(params: dict, data, measure: bool = False, log=None) -> dict | None:
    """This machine's measured rates for `params`: the cached ones, or (measure=True) new ones,
    timed now and cached. None when none is kept and measure is False."""
    if not measure:
        return cached(params)
    fp = fingerprint(params)
    found = measure_rates(params, data, log=log)
    out = {
        "digest": fp["digest"],
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "commit": fp["commit"],
        "fingerprint": fp,
        **found,
    }
    path = write_json(cache_path(params, fp), out)
    if log:
        log(f"throughput: kept in {path}")
    return out


def measure_rates(params: dict, data, log=None) -> dict:
    """Times training (the students' recipe, and the tool base's when they start from one) and prediction."""
    from tft_utils.data.sgd import resolve_sgd_dir
    from tft_utils.data.traces import load_traces
    from tft_utils.evaluate.predict import load_pairs
    from tft_utils.train import tool_base as tb
    from tft_utils.train.render import load_tools
    from tft_utils.train.student import base_model_dir

    say = log or (lambda *_: None)
    st, tokens = params["student"], Tokens(params["plan"])
    base = base_model_dir(st["model"], st["cache_dir"])
    tools = load_tools(data.folder / "tools.json")
    pool = load_traces(data.folder / "train_pool.jsonl")
    out, model, which = {}, base, "base model"
    say(f"throughput: training {WARMUP}+{TIMED} steps of the students' recipe ...")
    out["train"], conv = train_rate(
        params, pool, lambda c: conversation_tokens(c["messages"], tools, tokens), tools, base
    )
    if st["tool_base"] == "sgd":
        say(f"throughput: training {WARMUP}+{TIMED} steps of the tool base's recipe ...")
        convs = tb.tool_base_conversations(resolve_sgd_dir(params["data"]["sgd_dir"], None))
        recipe = {**params, "train": tb.tool_base_recipe(params)["train"]}
        out["tool_base"], _ = train_rate(
            recipe, convs, lambda c: conversation_tokens(c["messages"], c["tools"], tokens), [], base
        )
        # The students' prediction speed: the tool base they start from stands for them (S1, 12 test
        # conversations, EPYC: 630 plan tokens/s, a trained S1 student 592); the untuned base's outputs leave
        # the gold call sooner (329), so without the tool base built the rate errs ~1.8x slow.
        folder = tb.built_tool_base(params, base, convs)
        if folder is not None:
            model, which = folder, "tool base"
        else:
            which = "base model (the tool base is not built yet: its students predict ~1.8x faster)"
    say(
        f"throughput: predicting the pairs of {PREDICT_CONVERSATIONS} test conversations with the {which} ..."
    )
    test = load_traces(data.folder / "test.jsonl")
    pairs = load_pairs(data.folder / "test_pairs.jsonl")
    found, chosen = predict_rate(params, test, pairs, tools, tokens, model)
    out["predict"] = {**found, "model": which}
    if params["run"]["jobs"] > 1:
        training, predicting = (params, conv, tools, base), (model, chosen, params, tools)
        out["side_by_side"] = side_by_side_rates(params, out, training, predicting, say)
    out["train_tokens_per_s"] = out["train"]["plan_tokens_per_s"]
    if "tool_base" in out:
        out["tool_base_tokens_per_s"] = out["tool_base"]["plan_tokens_per_s"]
    out["predict_tokens_per_s"] = out["predict"]["plan_tokens_per_s"]
    return out


def sequence_lengths(params: dict, convs: list[dict], tools: list[dict], base) -> tuple[list[list[int]], int]:
    """The real token lengths of the training sequences `train()` makes of each conversation, and the
    real tokens of all the conversations rendered whole (for the plan tokens' ratio)."""
    from transformers import AutoTokenizer

    from tft_utils.train.loop import TASK_PROMPT, encode
    from tft_utils.train.render import Renderer
    from tft_utils.train.tool_base import conversation_key

    cfg, tok, renderers = params["train"], AutoTokenizer.from_pretrained(base), {}
    lengths, whole = [], 0
    for c in convs:
        key = conversation_key(c)
        if key not in renderers:
            renderers[key] = Renderer.create(tok, c.get("tools", tools), c.get("task_prompt") or TASK_PROMPT)
        r = renderers[key]
        lengths.append(
            [len(x["ids"]) for x in encode(r, c, cfg["max_tokens"], cfg["long_policy"], cfg["unit"])]
        )
        whole += len(r.conversation_ids(c["messages"])[0])
    return lengths, whole


def typical(lengths: list[list[int]]) -> int:
    """The conversation trained as one sequence as long as the mean training sequence (else, when every
    conversation splits, the one whose sequences' mean is nearest it)."""
    flat = [n for seqs in lengths for n in seqs]
    mean = sum(flat) / len(flat)
    return min(
        range(len(lengths)),
        key=lambda i: (len(lengths[i]) != 1, abs(statistics.mean(lengths[i] or [0]) - mean), i),
    )


def train_rate(params: dict, convs: list[dict], plan_tokens, tools: list[dict], base) -> tuple[dict, dict]:
    """Tokens/s of `train()` over TIMED steps after WARMUP, on one typical conversation repeated; in
    plan tokens by the ratio of plan to real tokens over all `convs`. And the conversation timed."""
    lengths, whole = sequence_lengths(params, convs, tools, base)
    ratio = sum(plan_tokens(c) for c in convs) / whole
    i = typical(lengths)
    timed = timed_train(params, convs[i], tools, base)
    return {
        **timed,
        "steps": TIMED,
        "plan_tokens_per_s": round(timed["tokens_per_s"] * ratio, 1),
        "plan_tokens_per_token": round(ratio, 3),
        "sequence_tokens": lengths[i],
    }, convs[i]


def timed_train(params: dict, conv: dict, tools: list[dict], base, log=None) -> dict:
    """`train()` on `conv` repeated, WARMUP + TIMED steps: the real tokens/s of the timed steps. A
    module-level function of plain data, so that core.workers can run it side by side."""
    from tft_utils.train.loop import train

    per_step = params["train"]["conversations_per_step"]
    steps = WARMUP + TIMED
    cfg = {**params["train"], "max_steps": steps, "save_every": steps + 1, "seed": 0}
    with tempfile.TemporaryDirectory(prefix="tft-measure-") as tmp:
        stats = train([conv] * per_step, Path(tmp) / "model", {**params, "train": cfg}, tools, base, False)
        history = json.loads((Path(tmp) / "model" / "train_stats.json").read_text())["history"]
    first, last = history[WARMUP - 1], history[-1]
    seconds = last["seconds"] - first["seconds"]
    return {
        "seconds": round(seconds, 2),
        "tokens_per_s": round((last["tokens"] - first["tokens"]) / seconds, 1),
        "dtype": stats["dtype"],
        "compiled": stats["compiled"],
    }


def predict_rate(
    params: dict, test: list[dict], pairs: list[dict], tools, tokens: Tokens, base
) -> tuple[dict, list[dict]]:
    """Plan tokens/s of `predict()` on every pair of PREDICT_CONVERSATIONS test conversations of about
    the median length (the model's loading not counted: the plan counts tokens). And the pairs timed."""
    lengths = {str(t["dialogue_id"]): conversation_tokens(t["messages"], tools, tokens) for t in test}
    median = statistics.median(lengths.values())
    chosen = sorted(lengths, key=lambda d: (abs(lengths[d] - median), d))[:PREDICT_CONVERSATIONS]
    convs = [t for t in test if str(t["dialogue_id"]) in chosen]
    sel = [p for p in pairs if str(p["dialogue_id"]) in chosen]
    seconds = timed_predict(base, sel, params, tools)
    n = predict_tokens(convs, sel, tools, tokens, params)
    return {
        "conversations": len(convs),
        "pairs": len(sel),
        "seconds": seconds,
        "plan_tokens": n,
        "plan_tokens_per_s": round(n / seconds, 1),
    }, sel


def timed_predict(model, pairs: list[dict], params: dict, tools, log=None) -> float:
    """Seconds `predict()` takes for `pairs` (the model's loading not counted)."""
    from tft_utils.evaluate.predict import predict

    return predict(model, pairs, params, tools=tools, progress=False)["seconds"]


def side_by_side_rates(params: dict, alone: dict, training: tuple, predicting: tuple, say) -> dict:
    """The training and the prediction just timed (`training`, `predicting`: the arguments `timed_train` and
    `timed_predict` were given), again as `run.jobs` copies side by side (core.workers, each on its share of
    the threads, as notebooks 05 and 06 run them); each factor is what the machine does an hour side by side
    over one at a time: the copies' summed tokens/s over the one's (training), `jobs` x the one's seconds over
    the slowest copy's (predicting)."""
    from tft_utils.core.workers import side_by_side, threads_each

    jobs, each = params["run"]["jobs"], threads_each(params["run"]["jobs"])
    say(f"throughput: the same again, {jobs} at a time on {each} thread(s) each (run.jobs) ...")
    trained = [r for _, r in side_by_side(timed_train, [training] * jobs, jobs, say)]
    seconds = [s for _, s in side_by_side(timed_predict, [predicting] * jobs, jobs, say)]
    rates = [r["tokens_per_s"] for r in trained]
    return {
        "jobs": jobs,
        "threads_each": each,
        "train_tokens_per_s_each": rates,
        "predict_seconds_each": seconds,
        "train_factor": round(sum(rates) / alone["train"]["tokens_per_s"], 3),
        "predict_factor": round(jobs * alone["predict"]["seconds"] / max(seconds), 3),
    }
