"""A LoRA training step on CPU: the previous code's step beside today's, same model and sequences, one run.

Each variant is a fresh student (the profile's base model, the profile's LoRA recipe, decoder layers
compiled, forward passes padded to `train.pad_multiple`) trained on the same seeded sequences, one
per step as the cpu recipe does; the first `--warmup` steps compile every width and are not timed.
The variants add today's three changes one at a time:

  previous    transformers' SDPA attention, the output layer's loss eager, per-tensor AdamW
  +attention  train.attention custom: flash forward, backward by batched matrix products
  +head       and the output layer's cross-entropy compiled (tft_utils/train/loop.py `_head_ce`)
  now         and fused AdamW: what `train` runs with `train.fast_step: true` (compiled layers)
  amp         `previous` with `train.amp: true`: the float32 adapters' products in bf16 (autocast)
  now+amp     `now` with `train.amp: true`

Printed per variant: real tokens/s over the timed steps, the ratio to `previous`, the mean loss of
the timed steps (the variants compute the same function: bf16 rounding only), then the CPU (model,
ISA), dtype and threads, and one JSON line. Float32 equality of losses and weights is tested
(tests/unit/train/test_attention.py, test_train.py), not here.

A variant named twice in `--variants` (e.g. previous,now,now,previous, to see what the order does on a box
that warms up) is timed and printed each time, the repeats as now#2, previous#2.

Usage: python scripts/bench_step.py [--profile cpu] [--n 120] [--warmup 30] [--steps 40] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_learning import cpu_info  # noqa: E402
from bench_train import pool_sequences  # noqa: E402

from tft_utils.core.params import load_params  # noqa: E402
from tft_utils.train.loop import (  # noqa: E402
    _batch_loss,
    _core,
    autocast,
    compile_layers,
    optimizer,
    with_lora,
)

VARIANTS = (  # name, train.attention, compiled output-layer loss, fused AdamW, train.amp
    ("previous", "sdpa", False, False, False),
    ("+attention", "custom", False, False, False),
    ("+head", "custom", True, False, False),
    ("now", "custom", True, True, False),
    ("amp", "sdpa", False, False, True),
    ("now+amp", "custom", True, True, True),
)


def time_variant(base, params, seqs, warmup, steps, attention, head, fused, amp) -> dict:
    import torch

    from tft_utils.train.attention import use
    from tft_utils.train.student import load_student

    cfg = params["train"]
    torch._dynamo.reset()  # each variant compiles afresh: one process's compile caches would overflow
    torch.manual_seed(0)
    model, tok = load_student(base, "cpu", params["student"]["dtype"])
    model.train()
    model = with_lora(model, cfg)
    opt = optimizer(model, cfg, fused=fused)
    compile_layers(model, "inductor", "cpu")
    use(_core(model), attention, True, 1)
    tokens, seconds, losses = 0, 0.0, []
    for i, s in enumerate(seqs[: warmup + steps]):
        t0 = time.perf_counter()
        with autocast(model, amp):
            loss, n = _batch_loss(model, [s], "cpu", tok.pad_token_id, cfg["pad_multiple"], compiled=head)
        (loss / n).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            seconds += time.perf_counter() - t0
            tokens += len(s["ids"])
            losses.append(loss.item() / n)
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "mean_loss": round(sum(losses) / len(losses), 4),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student, dtype and LoRA recipe")
    ap.add_argument(
        "--n", type=int, default=120, help="conversations of the train pool to draw sequences from"
    )
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps first (compiling each width)")
    ap.add_argument("--steps", type=int, default=40, help="timed optimizer steps per variant")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--variants", default="", help="comma list of variant names, timed in that order (default: all)"
    )
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.profile)
    cfg = params["train"]
    base, seqs = pool_sequences(params, args.n)
    if len(seqs) < args.warmup + args.steps:
        sys.exit(f"{len(seqs)} sequences from {args.n} conversations: fewer than --warmup + --steps")
    by_name = {v[0]: v for v in VARIANTS}
    names = args.variants.split(",") if args.variants else list(by_name)
    if unknown := [n for n in names if n not in by_name]:
        sys.exit(f"--variants: unknown {unknown}; known: {list(by_name)}")
    chosen = [by_name[n] for n in names]  # in the order given: a later variant may run on a warmer process
    res: dict = {}
    for i, (name, *how) in enumerate(chosen):
        # a variant named again (to see the order's effect) is labelled name#2, name#3, ...
        times = names[:i].count(name)
        label = f"{name}#{times + 1}" if times else name
        print(f"[{label}] {args.warmup} warm-up + {args.steps} timed steps ...", file=sys.stderr, flush=True)
        res[label] = time_variant(base, params, seqs, args.warmup, args.steps, *how)
        print(f"[{label}] {res[label]['tokens_per_s']:.1f} tokens/s", file=sys.stderr, flush=True)
    first = res[chosen[0][0]]["tokens_per_s"]
    print(f"{'variant':<12} {'tokens/s':>9} {'x ' + chosen[0][0]:>12} {'mean loss':>10}")
    for name, r in res.items():
        r["ratio"] = round(r["tokens_per_s"] / first, 3)
        print(f"{name:<12} {r['tokens_per_s']:>9.1f} {r['ratio']:>12.3f} {r['mean_loss']:>10.4f}")
    cpu, isa = cpu_info()
    meta = {
        "cpu": cpu,
        "isa": isa,
        "threads": torch.get_num_threads(),
        "dtype": next(iter(res.values()))["dtype"],
        "lora_layers": cfg["lora_layers"],
        "sequences": f"{args.steps} timed of {len(seqs)}",
        "mean_tokens": round(sum(len(s["ids"]) for s in seqs) / len(seqs), 1),
    }
    print(
        f"CPU: {cpu} ({isa}), {meta['threads']} torch threads, {meta['dtype']}, LoRA on the top "
        f"{cfg['lora_layers']} layers, {meta['mean_tokens']} tokens a sequence"
    )
    out = {"variants": res, **meta}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
