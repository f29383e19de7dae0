"""Evaluation speed: the fast path (each conversation read once, the pairs of several conversations
decoded together in one batch) vs `generate` per pair, side by side on the same loaded model and the
same pairs. (New code vs old code of the fast path: scripts/bench_predict_vs.py.)

Pairs: every test pair of the first K test conversations (test_pairs.jsonl of the dataset built with
`tft_utils.data.traces.build_dataset` from $TFT_SGD_DIR, else ../shared/sgd; or `--pairs FILE`). Both
paths decode greedily with the same stop rules and `predict.max_new_tokens`; the script checks they
give identical predictions and prints the number of mismatches, pairs/s of each, the speed-up and
one JSON line. One untimed warm-up call per path comes first.

In bfloat16 (the `auto` dtype on CUDA and on CPUs with bf16 units) the two paths can differ where
two candidate tokens are within bf16 rounding of each other: the same math runs on other matrix
shapes (one stream vs a batch of streams), so a near-tie may round the other way and the greedy
continuations then part. In float32 they agree; `--dtype float32` checks that.

Usage: python scripts/bench_predict.py [--profile cpu|smoke] [--model DIR] [--k 4] [--dtype D]
       [--max-new-tokens 48] [--pairs FILE --tools FILE] [--threads 1]
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
from tft_utils.evaluate.predict import _Student, groups, load_pairs  # noqa: E402
from tft_utils.train.render import load_tools  # noqa: E402


def dataset_files(tmp: Path) -> tuple[Path, Path]:
    from tft_utils.data.traces import build_dataset

    sgd = Path(os.environ.get("TFT_SGD_DIR") or REPO.parent / "shared" / "sgd")
    if not sgd.is_dir():
        sys.exit(f"no SGD folder at {sgd}: set TFT_SGD_DIR or pass --pairs and --tools")
    build_dataset(sgd, tmp)
    return tmp / "test_pairs.jsonl", tmp / "tools.json"


def run(student: _Student, todo: list[list[dict]], method: str) -> tuple[list[str], float]:
    """Predictions of every group (in `todo`'s order) and the seconds they took."""
    import torch

    t0 = time.perf_counter()
    if method == "fast":  # all groups batched together, as `predict` does
        by_group = {id(g): texts for g, texts in student.batched(todo)}
    else:
        with torch.inference_mode():
            by_group = {id(g): student.naive(g) for g in todo}
    seconds = time.perf_counter() - t0
    return [t for g in todo for t in by_group[id(g)]], seconds


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student, dtype and max_new_tokens")
    ap.add_argument("--model", default=None, help="model folder (default: the profile's base student)")
    ap.add_argument("--k", type=int, default=4, help="test conversations (the first K of the pairs file)")
    ap.add_argument(
        "--max-new-tokens",
        type=int,
        default=48,
        help="cap per prediction (default 48 keeps the default run under ~4 minutes on a shared 2-core CPU; "
        "0: the profile's predict.max_new_tokens, 128)",
    )
    ap.add_argument(
        "--dtype", default=None, help="auto | bfloat16 | float32 (default: the profile's student.dtype)"
    )
    ap.add_argument("--pairs", default=None, help="test_pairs.jsonl (default: built from the SGD folder)")
    ap.add_argument("--tools", default=None, help="tools.json (needed for a model without tft_render.json)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 0: torch's default (on a CPU shared with another busy process, torch's 2 "
        "threads on 2 cores measured many times slower than 1)",
    )
    args = ap.parse_args(argv)

    import torch

    from tft_utils.train.student import base_model_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [{"predict": {"max_new_tokens": args.max_new_tokens}}] if args.max_new_tokens else []
    overrides += [{"student": {"dtype": args.dtype}}] if args.dtype else []
    params = load_params(args.profile, overrides=overrides)
    model = args.model or base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
    with tempfile.TemporaryDirectory() as tmp:
        pairs_path, tools_path = (Path(args.pairs), args.tools) if args.pairs else dataset_files(Path(tmp))
        pairs = load_pairs(pairs_path)
        tools = load_tools(tools_path) if tools_path else None
    ids = list(dict.fromkeys(str(p["dialogue_id"]) for p in pairs))[: args.k]
    pairs = [p for p in pairs if str(p["dialogue_id"]) in ids]
    todo = groups(pairs)
    student = _Student(model, params, tools)
    device = str(student.device)
    dtype = str(next(student.model.parameters()).dtype).replace("torch.", "")
    print(
        f"[bench_predict] {len(pairs)} pairs of {len(ids)} conversations, {Path(str(model)).name} on {device} "
        f"({dtype}, {torch.get_num_threads()} threads), max_new_tokens {student.max_new}",
        file=sys.stderr,
        flush=True,
    )

    keep, student.max_new = student.max_new, 4  # warm-up: one short call per path, untimed
    run(student, [todo[0][:2]], "fast")
    run(student, [todo[0][:1]], "naive")
    student.max_new = keep

    fast, fast_s = run(student, todo, "fast")
    print(f"[bench_predict] fast: {fast_s:.1f} s", file=sys.stderr, flush=True)
    naive, naive_s = run(student, todo, "naive")
    mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(fast, naive, strict=True)) if a != b]
    n_tok = [len(student.tok(t, add_special_tokens=False)["input_ids"]) for t in fast]
    res = {
        "bench": "predict",
        "profile": args.profile,
        "model": str(model),
        "device": device,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "conversations": len(ids),
        "pairs": len(pairs),
        "max_new_tokens": student.max_new,
        "batch_streams": student.batch_streams,
        "mean_prediction_tokens": round(sum(n_tok) / len(n_tok), 1),
        "fast_s": round(fast_s, 2),
        "naive_s": round(naive_s, 2),
        "fast_pairs_per_s": round(len(pairs) / fast_s, 3),
        "naive_pairs_per_s": round(len(pairs) / naive_s, 3),
        "speedup": round(naive_s / fast_s, 2),
        "mismatches": len(mismatches),
    }
    print(
        f"bench_predict: {res['pairs']} pairs ({res['conversations']} conversations), {Path(str(model)).name}, "
        f"{device}/{dtype}, max_new_tokens {res['max_new_tokens']} (mean prediction {res['mean_prediction_tokens']} tokens)"
    )
    print(f"{'method':<8}{'seconds':>10}{'pairs/s':>10}")
    print(f"{'fast':<8}{res['fast_s']:>10}{res['fast_pairs_per_s']:>10}")
    print(f"{'naive':<8}{res['naive_s']:>10}{res['naive_pairs_per_s']:>10}")
    print(f"speed-up {res['speedup']}x; mismatches {res['mismatches']} of {res['pairs']}")
    ordered = [r for g in todo for r in g]  # the order both paths predicted in
    for i, a, b in mismatches[:3]:
        print(
            f"  mismatch {ordered[i]['dialogue_id']} turn {ordered[i]['turn']}:\n    fast:  {a[:160]!r}\n    naive: {b[:160]!r}"
        )
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
