"""Training speed over many steps of different lengths: why each forward pass is padded to a multiple.

CPU bf16 kernels (oneDNN, on AMX or AVX512-BF16) are built and kept per matrix shape, so a run whose
every step brings a new sequence length pays a build each step and keeps ~20 MB more; measured over 400
tool-base steps on a 2-core AMX Xeon, a LoRA student fell from ~350 to ~165 tokens/s and grew from 4 to
8 GB. `train.pad_multiple` rounds each forward pass up to a multiple (64: at most ~16 widths below 1024).

Each variant trains the same LoRA student (the profile's dtype, real S1 sequences in a seeded order,
one sequence per step, the training code's own `_batch_loss`) in a fresh process, so no variant
inherits another's kernels. Printed per window of steps: real tokens/s (pads excluded), the process's
resident memory and how many widths it has seen; then one JSON line.

Variants: eager-pad1 (every length its own shape), eager-pad64, compiled-pad64 (`train.compile`),
compiled-eagerattn-pad64 (the same with transformers' eager attention, matmuls and a softmax, in place of
torch's fused SDPA kernel, whose CPU backward pass took ~27% of a compiled bf16 LoRA step in a
throwaway torch.profiler run),
compiled-pad64-rows1 (the output layer's rows, one per supervised token, left unpadded: the code before
they were padded too).

Usage: python scripts/bench_shapes.py [--steps 160] [--window 20] [--variants eager-pad1,eager-pad64,...]
       [--dtype auto|float32]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

VARIANTS = ("eager-pad1", "eager-pad64", "compiled-pad64", "compiled-eagerattn-pad64", "compiled-pad64-rows1")


def rss_mb() -> int:
    status = Path("/proc/self/status")
    if not status.exists():  # not Linux
        return -1
    return int(status.read_text().split("VmRSS:")[1].split()[0]) // 1024


def run_variant(name: str, steps: int, window: int, dtype: str = "auto") -> dict:
    """Train `steps` steps of one variant in this process; one row per window."""
    import torch
    from bench_train import dataset_files
    from transformers import AutoTokenizer

    from tft_utils.core.io import read_jsonl
    from tft_utils.core.params import load_params
    from tft_utils.train.loop import (
        _batch_loss,
        compile_layers,
        conversations_from_rows,
        encode,
        load_tools,
        with_lora,
    )
    from tft_utils.train.render import Renderer
    from tft_utils.train.student import base_model_dir, load_student

    mode, _, pad = name.partition("-pad")
    pad, _, row_pad = pad.partition("-rows")
    multiple, row_multiple = int(pad), int(row_pad) if row_pad else None
    params = load_params("cpu", overrides=[f"student.dtype={dtype}"])
    cfg = params["train"]
    with tempfile.TemporaryDirectory() as tmp:
        traces, tools_path = dataset_files(Path(tmp))
        convs = conversations_from_rows(read_jsonl(traces), str(traces))
        tools = load_tools(tools_path)
    base = base_model_dir("cpu")
    renderer = Renderer.create(AutoTokenizer.from_pretrained(base), tools)
    seqs = [s for c in convs for s in encode(renderer, c, cfg["max_tokens"])]
    order = random.Random(0).sample(range(len(seqs)), min(steps, len(seqs)))
    torch.manual_seed(0)
    model, tok = load_student(base, "cpu", params["student"]["dtype"])
    model.train()
    if mode.endswith("-eagerattn"):
        model.set_attn_implementation("eager")
    model = with_lora(model, cfg)
    if mode.startswith("compiled"):
        compile_layers(model, "inductor", "cpu")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rows, widths, tokens, t0 = [], set(), 0, time.perf_counter()
    for i, k in enumerate(order, 1):
        loss, n = _batch_loss(model, [seqs[k]], "cpu", tok.pad_token_id, multiple, row_multiple)
        (loss / n).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += len(seqs[k]["ids"])
        widths.add(-(-len(seqs[k]["ids"]) // multiple) * multiple)
        if i % window == 0:
            dt = time.perf_counter() - t0
            rows.append(
                {"steps": i, "tok_s": round(tokens / dt, 1), "rss_mb": rss_mb(), "widths": len(widths)}
            )
            print(
                f"{name:<26}{i:>6}{rows[-1]['tok_s']:>9}{rows[-1]['rss_mb']:>9}{len(widths):>8}", flush=True
            )
            tokens, t0 = 0, time.perf_counter()
    return {"variant": name, "dtype": str(next(model.parameters()).dtype), "windows": rows}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=160, help="optimizer steps per variant (one sequence each)")
    ap.add_argument("--window", type=int, default=20, help="steps per printed row")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument(
        "--dtype", default="auto", help="student.dtype: auto (bf16 where the CPU has bf16 units) | float32"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant in this process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_variant(args.one, args.steps, args.window, args.dtype)))
        return {}
    from bench_learning import cpu_info

    cpu, isa = cpu_info()
    print(f"bench_shapes: {cpu} ({isa}), dtype {args.dtype}, {args.steps} steps a variant")
    print(f"{'variant':<26}{'steps':>6}{'tok/s':>9}{'rss MB':>9}{'widths':>8}", flush=True)
    res = {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"--variants: unknown {name!r}; known: {', '.join(VARIANTS)}")
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--steps",
            str(args.steps),
            "--window",
            str(args.window),
        ]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.splitlines()
        print("\n".join(out[:-1]), flush=True)
        res[name] = json.loads(out[-1])
    summary = {
        name: {
            "first": r["windows"][0]["tok_s"],
            "last": r["windows"][-1]["tok_s"],
            "rss_mb": r["windows"][-1]["rss_mb"],
        }
        for name, r in res.items()
    }
    out = {"bench": "shapes", "cpu": cpu, "isa": isa, "dtype": args.dtype, "steps": args.steps, **summary}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
