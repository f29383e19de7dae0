"""Training throughput: whole conversations vs per-turn expansion (`train.unit`), side by side.

Both units train the same LoRA student (same base weights, same LoRA and optimizer settings, the
training code's own `encode` and `_batch_loss`) on the same N conversations, for a fixed number of
optimizer steps each (after one untimed warm-up step). Printed per unit: the sequences and tokens
one epoch over the N conversations needs, the supervised turns it trains, the measured tokens/s and
supervised turns/s, and the epoch time those imply; then the ratios and one JSON line.

A whole-conversation sequence trains every turn of a conversation (or of a `split` part of it) in
one pass; the per-turn expansion re-reads the growing prefix once per turn, so it needs several
times the tokens for the same supervised turns.

Data: a traces file (`--traces`, e.g. train_pool.jsonl, with `--tools`), else the dataset built
with `tft_utils.data.traces.build_dataset` from $TFT_SGD_DIR (else ../shared/sgd) into a temp folder.

Usage: python scripts/bench_train.py [--profile cpu|smoke] [--n 48] [--steps 8] [--max-tokens M]
       [--traces FILE --tools FILE] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tft_utils.core.io import read_jsonl  # noqa: E402
from tft_utils.core.params import load_params, seed_of  # noqa: E402
from tft_utils.train.loop import _batch_loss, conversations_from_rows, encode, with_lora  # noqa: E402
from tft_utils.train.render import Renderer, load_tools  # noqa: E402

UNITS = ("conversation", "turn")


def dataset_files(tmp: Path) -> tuple[Path, Path]:
    """train_pool.jsonl and tools.json built from the SGD folder."""
    from tft_utils.data.traces import build_dataset

    sgd = Path(os.environ.get("TFT_SGD_DIR") or REPO.parent / "shared" / "sgd")
    if not sgd.is_dir():
        sys.exit(f"no SGD folder at {sgd}: set TFT_SGD_DIR or pass --traces and --tools")
    build_dataset(sgd, tmp)
    return tmp / "train_pool.jsonl", tmp / "tools.json"


def pool_sequences(params: dict, n: int, shuffle: bool = True) -> tuple[Path, list[dict]]:
    """(the profile's base model folder, the training sequences of the train pool's first `n`
    conversations), encoded as `train` encodes them; in a seeded shuffle unless `shuffle` is False."""
    from transformers import AutoTokenizer

    from tft_utils.train.student import base_model_dir

    cfg = params["train"]
    with tempfile.TemporaryDirectory() as tmp:
        traces, tools_path = dataset_files(Path(tmp))
        convs = conversations_from_rows(read_jsonl(traces), str(traces))[:n]
        tools = load_tools(tools_path)
    base = base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
    renderer = Renderer.create(AutoTokenizer.from_pretrained(base), tools)
    seqs = [s for c in convs for s in encode(renderer, c, cfg["max_tokens"], cfg["long_policy"], cfg["unit"])]
    if shuffle:
        random.Random(0).shuffle(seqs)
    return base, seqs


def supervised_turns(mask: list[bool]) -> int:
    """Runs of supervised tokens: one per trained call."""
    return sum(1 for p, m in enumerate(mask) if m and (p == 0 or not mask[p - 1]))


def time_unit(base, params: dict, seqs: list[dict], steps: int, seed: int) -> dict:
    """`steps` timed optimizer steps (after one warm-up step) of fresh LoRA on a seeded sample."""
    import torch

    from tft_utils.train.student import load_student

    cfg = params["train"]
    torch.manual_seed(seed)
    model, _ = load_student(base, params["student"]["device"], params["student"]["dtype"])
    device = next(model.parameters()).device.type
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    model.train()
    model = with_lora(model, cfg)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg["lr"], weight_decay=0.0
    )
    per_step = cfg["conversations_per_step"]
    order = list(range(len(seqs)))
    random.Random(seed).shuffle(order)
    order = (order * ((steps + 1) * per_step // len(order) + 1))[: (steps + 1) * per_step]
    tokens = turns = 0
    seconds = 0.0
    for step in range(steps + 1):
        batch = [seqs[i] for i in order[step * per_step : (step + 1) * per_step]]
        n_sup = sum(sum(s["mask"][1:]) for s in batch)
        t0 = time.perf_counter()
        for s in batch:
            loss, _ = _batch_loss(model, [s], device, 0)
            (loss / n_sup).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step == 0:
            continue  # warm-up: first-call allocations and kernel selection
        seconds += time.perf_counter() - t0
        tokens += sum(len(s["ids"]) for s in batch)
        turns += sum(supervised_turns(s["mask"]) for s in batch)
    return {
        "timed_steps": steps,
        "timed_tokens": tokens,
        "timed_turns": turns,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "turns_per_s": round(turns / seconds, 3),
        "device": device,
        "dtype": dtype,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student, dtype and train settings")
    ap.add_argument("--traces", default=None, help="JSONL of traces (messages) or pairs; default: train_pool")
    ap.add_argument("--tools", default=None, help="tools.json (required with --traces)")
    ap.add_argument("--n", type=int, default=48, help="conversations (the first N of the file)")
    ap.add_argument("--steps", type=int, default=8, help="timed optimizer steps per unit")
    ap.add_argument("--max-tokens", type=int, default=0, help="sequence budget (default: train.max_tokens)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 0: torch's default (on a CPU shared with another busy process, torch's 2 "
        "threads on 2 cores measured ~16x slower than 1)",
    )
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoTokenizer

    from tft_utils.train.student import base_model_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.profile)
    cfg = params["train"]
    max_tokens = args.max_tokens or cfg["max_tokens"]
    seed = seed_of(params, "train")
    with tempfile.TemporaryDirectory() as tmp:
        if args.traces:
            if not args.tools:
                sys.exit("--traces needs --tools")
            traces, tools_path = Path(args.traces), Path(args.tools)
        else:
            traces, tools_path = dataset_files(Path(tmp))
        convs = conversations_from_rows(read_jsonl(traces), str(traces))[: args.n]
        tools = load_tools(tools_path)
    base = base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
    tok = AutoTokenizer.from_pretrained(base)
    renderer = Renderer.create(tok, tools)

    res: dict = {}
    for unit in UNITS:
        seqs = [s for c in convs for s in encode(renderer, c, max_tokens, cfg["long_policy"], unit)]
        epoch = {
            "sequences": len(seqs),
            "epoch_tokens": sum(len(s["ids"]) for s in seqs),
            "epoch_turns": sum(supervised_turns(s["mask"]) for s in seqs),
        }
        epoch["tokens_per_turn"] = round(epoch["epoch_tokens"] / epoch["epoch_turns"], 1)
        print(
            f"[{unit}] {epoch['sequences']} sequences; timing {args.steps} steps ...",
            file=sys.stderr,
            flush=True,
        )
        timed = time_unit(base, params, seqs, args.steps, seed)
        timed["epoch_s_estimate"] = round(epoch["epoch_tokens"] / timed["tokens_per_s"], 1)
        res[unit] = epoch | timed

    c, t = res["conversation"], res["turn"]
    # the same figures with no budget (no split, no turn left out): both units train every turn
    unbounded = {}
    for unit in UNITS:
        seqs = [s for conv in convs for s in encode(renderer, conv, 10**9, "split", unit)]
        unbounded[unit] = {
            "epoch_tokens": sum(len(s["ids"]) for s in seqs),
            "epoch_turns": sum(map(supervised_turns, (s["mask"] for s in seqs))),
        }
    unbounded["epoch_tokens_turn_over_conversation"] = round(
        unbounded["turn"]["epoch_tokens"] / unbounded["conversation"]["epoch_tokens"], 2
    )
    ratios = {
        "epoch_tokens_turn_over_conversation": round(t["epoch_tokens"] / c["epoch_tokens"], 2),
        "tokens_per_turn_turn_over_conversation": round(t["tokens_per_turn"] / c["tokens_per_turn"], 2),
        "turns_per_s_conversation_over_turn": round(c["turns_per_s"] / t["turns_per_s"], 2),
        "tokens_per_s_conversation_over_turn": round(c["tokens_per_s"] / t["tokens_per_s"], 2),
    }
    head = (
        "unit",
        "seqs",
        "epoch tok",
        "sup turns",
        "tok/turn",
        "steps",
        "tokens",
        "sec",
        "tok/s",
        "turns/s",
        "epoch s",
    )
    print(
        f"bench_train: {len(convs)} conversations, max_tokens {max_tokens}, policy {cfg['long_policy']}, ",
        end="",
    )
    print(f"model {Path(str(base)).name} ({c['device']}, {c['dtype']}, {torch.get_num_threads()} threads)")
    print(("{:<13}" + "{:>10}" * (len(head) - 1)).format(*head))
    for unit in UNITS:
        r = res[unit]
        row = (
            unit,
            r["sequences"],
            r["epoch_tokens"],
            r["epoch_turns"],
            r["tokens_per_turn"],
            r["timed_steps"],
            r["timed_tokens"],
            r["seconds"],
            r["tokens_per_s"],
            r["turns_per_s"],
            r["epoch_s_estimate"],
        )
        print(("{:<13}" + "{:>10}" * (len(head) - 1)).format(*row))
    print(
        f"one epoch: per-turn expansion needs {ratios['epoch_tokens_turn_over_conversation']}x the tokens "
        f"({ratios['tokens_per_turn_turn_over_conversation']}x per supervised turn); whole conversations "
        f"train {ratios['turns_per_s_conversation_over_turn']}x the supervised turns per second"
    )
    print(
        f"no budget (every turn of the {len(convs)} conversations, {unbounded['turn']['epoch_turns']} turns): "
        f"{unbounded['conversation']['epoch_tokens']} tokens as whole conversations vs "
        f"{unbounded['turn']['epoch_tokens']} per turn ({unbounded['epoch_tokens_turn_over_conversation']}x)"
    )
    out = {
        "bench": "train",
        "profile": args.profile,
        "model": str(base),
        "conversations": len(convs),
        "max_tokens": max_tokens,
        "long_policy": cfg["long_policy"],
        "threads": torch.get_num_threads(),
        **res,
        **ratios,
        "unbounded": unbounded,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
