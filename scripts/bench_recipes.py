"""Training throughput per recipe, beside the forward pass alone, same model and sequences, one run.

Recipes: LoRA (the `paper` profile's method) and full fine-tuning, one sequence per forward pass or
several padded into one (`train.micro_batch`, sequences grouped by length as training does), with
the decoder layers run eagerly or compiled by inductor (`train.compile`). Each is
timed over the same optimizer steps after one untimed warm-up step; forward-only runs the frozen model
without gradients over the same sequences. Printed: tokens/s (real tokens, padding excluded), the
padding share, and each recipe's tokens/s as a fraction of forward-only (a backward pass costs ~2
forwards, so ~0.33 is the ideal).

Usage: python scripts/bench_recipes.py [--n 64] [--steps 6] [--seqs-per-step 4] [--threads 0]
       [--recipes lora-b1-compiled,lora-top15-compiled] [--max-tokens 4096] [--dtype auto]
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
    compile_layers,
    step_order,
    with_lora,
)

RECIPES = (  # name, method, sequences per forward pass, decoder layers compiled (train.compile), LoRA's layers
    ("lora-b1", "lora", 1, False, 0),
    ("lora-b1-compiled", "lora", 1, True, 0),
    ("full-b1", "full", 1, False, 0),
    ("full-b1-compiled", "full", 1, True, 0),
    ("full-mb4", "full", 4, False, 0),
    ("full-mb8", "full", 8, False, 0),
    # train.lora_layers: adapters on the top 15 / 10 of SmolLM2-135M's 30 decoder layers only
    ("lora-top15-compiled", "lora", 1, True, 15),
    ("lora-top10-compiled", "lora", 1, True, 10),
)


def time_recipe(base, params, seqs, steps, per_step, method, micro, compiled=False, top=0, seed=0) -> dict:
    import torch

    from tft_utils.train.student import load_student

    cfg = params["train"]
    torch.manual_seed(seed)
    model, tok = load_student(base, "cpu", params["student"]["dtype"])
    model.train()
    if method == "lora":
        model = with_lora(model, {**cfg, "lora_layers": top})  # train.lora_layers; 0: every layer
    if compiled:  # compiling happens in the untimed warm-up step
        compile_layers(model, "inductor", "cpu")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    plan = step_order(seqs, steps + 1, per_step, seed, micro > 1)
    tokens = padded = 0
    seconds = 0.0
    for step, group in enumerate(plan):
        batch = [seqs[i] for i in group]
        n_sup = sum(sum(s["mask"]) for s in batch)
        t0 = time.perf_counter()
        for k in range(0, len(batch), micro):
            part = batch[k : k + micro]
            if method == "forward":
                with torch.no_grad():
                    _batch_loss(model, part, "cpu", tok.pad_token_id)
            else:
                loss, _ = _batch_loss(model, part, "cpu", tok.pad_token_id)
                (loss / n_sup).backward()
            if step:
                padded += len(part) * max(len(s["ids"]) for s in part)
        if method != "forward":
            opt.step()
            opt.zero_grad(set_to_none=True)
        if step:  # step 0 is the warm-up
            seconds += time.perf_counter() - t0
            tokens += sum(len(s["ids"]) for s in batch)
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "padding_share": round(1 - tokens / padded, 3),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=64, help="conversations (the first N of the train pool)")
    ap.add_argument("--steps", type=int, default=6, help="timed optimizer steps per recipe")
    ap.add_argument("--seqs-per-step", type=int, default=8, help="sequences per optimizer step")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--recipes", default="", help="comma list of recipe names to time (default: all)")
    ap.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "bfloat16", "float32"),
        help="the student's dtype (student.dtype; auto: bf16 where the CPU has bf16 matrix units)",
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        default=0,
        help="train.max_tokens of the sequences (0: the cpu profile's 1024; 4096: whole conversations)",
    )
    args = ap.parse_args(argv)
    import torch

    from tft_utils.train.student import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    over = [f"student.dtype={args.dtype}"] + (
        [f"train.max_tokens={args.max_tokens}"] if args.max_tokens else []
    )
    params = load_params("cpu", overrides=over)
    base, seqs = pool_sequences(params, args.n, shuffle=False)
    res = {}
    wanted = {r for r in args.recipes.split(",") if r}
    unknown = wanted - {r[0] for r in RECIPES}
    if unknown:
        ap.error(f"--recipes: unknown {sorted(unknown)}; known: {[r[0] for r in RECIPES]}")
    for name, method, micro, compiled, top in (
        ("forward-mb1", "forward", 1, False, 0),
        ("forward-mb8", "forward", 8, False, 0),
        *(r for r in RECIPES if not wanted or r[0] in wanted),
    ):
        print(
            f"[{name}] timing {args.steps} steps of {args.seqs_per_step} sequences ...",
            file=sys.stderr,
            flush=True,
        )
        res[name] = time_recipe(
            base, params, seqs, args.steps, args.seqs_per_step, method, micro, compiled, top
        )
    fwd = max(res["forward-mb1"]["tokens_per_s"], res["forward-mb8"]["tokens_per_s"])
    cpu, isa = cpu_info()
    _, dtype = pick_device("cpu", params["student"]["dtype"])
    n_tok = sum(len(s["ids"]) for s in seqs)
    print(
        f"bench_recipes: {cpu} ({isa}), {torch.get_num_threads()} threads, {dtype}, {len(seqs)} sequences "
        f"({n_tok / len(seqs):.0f} tokens each, train.max_tokens {params['train']['max_tokens']})"
    )
    print(f"{'recipe':<18}{'tok/s':>9}{'pad':>7}{'/fwd':>7}")
    for name, r in res.items():
        print(f"{name:<18}{r['tokens_per_s']:>9}{r['padding_share']:>7}{r['tokens_per_s'] / fwd:>7.2f}")
    out = {
        "bench": "recipes",
        "cpu": cpu,
        "isa": isa,
        "threads": torch.get_num_threads(),
        "dtype": str(dtype),
        "max_tokens": params["train"]["max_tokens"],
        "mean_tokens": round(n_tok / len(seqs), 1),
        **res,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
