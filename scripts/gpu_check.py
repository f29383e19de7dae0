"""The GPU path of the `paper` profile, checked in a few minutes: the student trains a few steps on
CUDA in bfloat16 with the paper recipe (LoRA rank 64, merged) and predicts a few test pairs with the
fast path and with `generate`, side by side.

Prints one line per phase and a JSON summary: device name, dtype, training tokens/s and peak GPU
memory, prediction pairs/s of both paths and how many of their outputs differ (bf16 near-ties can
round apart, see scripts/bench_predict.py). Exits 2 with one line when no CUDA device is present.

The paper student is `Qwen/Qwen3-1.7B` from the Hub; on a machine without Hub access pass a local
model folder (`--model DIR`, e.g. a copy of the dequantized SmolLM2 that `tft` caches under
~/.cache/tft-study/models/smollm2-135m-instruct). The GGUF path is never used on CUDA.

Usage: python scripts/gpu_check.py [--model paper|DIR] [--steps 5] [--pairs 16] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tft_utils.core.params import load_params  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="paper", help="paper (Qwen/Qwen3-1.7B) or a local model folder")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to check this script itself")
    args = ap.parse_args(argv)

    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("gpu_check: error: no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO / "scripts"))
    from bench_learning import scenario_files
    from bench_predict import run

    from tft_utils.core.io import read_jsonl
    from tft_utils.evaluate.predict import _Student, groups, load_pairs
    from tft_utils.train.loop import conversations_from_rows, train
    from tft_utils.train.render import load_tools

    out = Path(args.out or tempfile.mkdtemp(prefix="gpu_check-"))
    sgd = Path(os.environ.get("TFT_SGD_DIR") or REPO.parent / "shared" / "sgd")
    traces, pairs_path, tools_path = scenario_files(out, sgd)
    params = load_params(
        "paper",
        "s1",
        [f"student.model={args.model}", f"train.max_steps={args.steps}", f"student.device={args.device}"],
    )
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"device: {device}; recipe: {json.dumps(params['train'])}", flush=True)

    convs = conversations_from_rows(read_jsonl(traces), str(traces))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stats = train(convs, out / "student", params, load_tools(tools_path), progress=False)
    train_mem = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    print(
        f"train: {stats['steps']} steps, {stats['tokens']} tokens, {stats['tokens_per_s']} tokens/s, "
        f"{stats['dtype']}, peak {train_mem:.1f} GiB",
        flush=True,
    )

    student = _Student(out / "student", params)  # its folder carries the rendering it was trained with
    todo = groups(load_pairs(pairs_path)[: args.pairs])
    n = sum(len(g) for g in todo)
    run(student, todo[:1], "fast")  # warm-up (kernels, allocator)
    t0 = time.perf_counter()
    fast, fast_s = run(student, todo, "fast")
    naive, naive_s = run(student, todo, "naive")
    differ = sum(a != b for a, b in zip(fast, naive, strict=True))
    print(
        f"predict: {n} pairs, fast {n / fast_s:.2f} pairs/s, generate {n / naive_s:.2f} pairs/s "
        f"({naive_s / fast_s:.2f}x), {differ} of {n} outputs differ",
        flush=True,
    )
    summary = {
        "device": device,
        "model": args.model,
        "dtype": stats["dtype"],
        "train_steps": stats["steps"],
        "train_tokens_per_s": stats["tokens_per_s"],
        "train_peak_gib": round(train_mem, 2),
        "pairs": n,
        "fast_pairs_per_s": round(n / fast_s, 3),
        "generate_pairs_per_s": round(n / naive_s, 3),
        "differ": differ,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
