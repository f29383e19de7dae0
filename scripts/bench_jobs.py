"""Models side by side (`run.jobs`): K students trained, then predicted, one after the other on all of this
process's threads, then the same K side by side in `--jobs` workers of `tft_utils.core.workers` on their share.

Each student is the profile's recipe (its model without the tool base, LoRA on the top `train.lora_layers`,
compiled layers, bf16 on a CPU with bf16 units) on the train pool's first `--n` conversations, seed 0..K-1,
`--steps` optimizer steps, exactly as notebook 05 trains one (`tft_utils.train.loop.train`); the
predictions are notebook 06's (`tft_utils.evaluate.predict.predict_file`) on the first `--pairs` test pairs.
Printed: the wall seconds of each way and their ratio (the machine's throughput), each model's own tokens/s
and pairs/s, whether its weights and predictions are the same bytes both ways (on fewer threads a model's
bf16 sums may round apart: said, not an error), the CPU (model, ISA), threads, and one JSON line.

Data: tft_utils.data.traces.build_dataset from $TFT_SGD_DIR (else ../shared/sgd).

Usage: python scripts/bench_jobs.py [--profile cpu] [--students 2] [--jobs 2] [--n 60] [--steps 150]
       [--pairs 120] [--threads 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_learning import cpu_info  # noqa: E402
from bench_train import dataset_files  # noqa: E402

from tft_utils.core.io import read_jsonl, write_jsonl  # noqa: E402
from tft_utils.core.params import load_params  # noqa: E402
from tft_utils.core.workers import side_by_side, threads_each  # noqa: E402


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def train_one(convs_path: str, tools_path: str, out: str, params: dict, log=print) -> dict:
    """One student (a task of `side_by_side`: module level, plain arguments)."""
    import torch

    from tft_utils.train.loop import conversations_from_rows, train
    from tft_utils.train.render import load_tools

    convs = conversations_from_rows(read_jsonl(convs_path), convs_path)
    stats = train(convs, out, params, load_tools(tools_path), progress=False)
    return {
        "tokens_per_s": stats["tokens_per_s"],
        "threads": torch.get_num_threads(),
        "weights": _sha(Path(out) / "model.safetensors"),
    }


def predict_one(model: str, pairs_path: str, out: str, params: dict, log=print) -> dict:
    from tft_utils.evaluate.predict import predict_file

    done = predict_file(model, pairs_path, out, params, progress=False)
    return {"pairs_per_s": done["pairs_per_s"], "predictions": _sha(Path(out))}


def timed(fn, tasks: list[tuple], jobs: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    got = dict(side_by_side(fn, tasks, jobs))
    return time.perf_counter() - t0, [got[i] for i in range(len(tasks))]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student and recipe")
    ap.add_argument("--students", type=int, default=2, help="students (seeds 0..K-1)")
    ap.add_argument("--jobs", type=int, default=2, help="workers side by side")
    ap.add_argument("--n", type=int, default=60, help="conversations of the train pool to train on")
    ap.add_argument("--steps", type=int, default=150, help="optimizer steps per student")
    ap.add_argument("--pairs", type=int, default=120, help="test pairs each student predicts (0: none)")
    ap.add_argument(
        "--threads", type=int, default=0, help="torch threads of this process (0: torch's default)"
    )
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    # the profile's model itself, not its tool base (a step costs the same; a benchmark never builds the base)
    params = load_params(
        args.profile, overrides=[{"train": {"max_steps": args.steps}, "student": {"tool_base": "none"}}]
    )
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        traces, tools = dataset_files(tmp / "data")
        convs = tmp / "convs.jsonl"
        write_jsonl(convs, read_jsonl(traces)[: args.n])
        pairs = tmp / "pairs.jsonl"
        if args.pairs:  # the test pairs build_dataset wrote beside the train pool
            write_jsonl(pairs, read_jsonl(tmp / "data" / "test_pairs.jsonl")[: args.pairs])
        for way, jobs in (("in turn", 1), ("side by side", args.jobs)):
            print(f"[{way}] {args.students} students x {args.steps} steps ...", file=sys.stderr, flush=True)
            tasks = [
                (
                    str(convs),
                    str(tools),
                    str(tmp / f"{jobs}-s{k}"),
                    {**params, "train": {**params["train"], "seed": k}},
                )
                for k in range(args.students)
            ]
            train_s, trained = timed(train_one, tasks, jobs)
            predict_s, predicted = 0.0, [{}] * args.students
            if args.pairs:
                print(f"[{way}] predicting {args.pairs} pairs with each ...", file=sys.stderr, flush=True)
                tasks = [
                    (str(tmp / f"{jobs}-s{k}"), str(pairs), str(tmp / f"{jobs}-p{k}.jsonl"), params)
                    for k in range(args.students)
                ]
                predict_s, predicted = timed(predict_one, tasks, jobs)
            res[way] = {
                "jobs": jobs,
                "threads_each": threads if jobs <= 1 else threads_each(jobs),
                "train_seconds": round(train_s, 1),
                "predict_seconds": round(predict_s, 1),
                "models": [{**t, **p} for t, p in zip(trained, predicted, strict=True)],
            }
    a, b = res["in turn"], res["side by side"]
    ratios = {
        "train": round(a["train_seconds"] / b["train_seconds"], 3),
        "predict": round(a["predict_seconds"] / b["predict_seconds"], 3) if args.pairs else None,
    }
    same = {
        "weights": [x["weights"] == y["weights"] for x, y in zip(a["models"], b["models"], strict=True)],
        "predictions": [
            x.get("predictions") == y.get("predictions")
            for x, y in zip(a["models"], b["models"], strict=True)
        ],
    }
    print(
        f"{'way':<13} {'jobs':>4} {'threads':>7} {'train s':>8} {'predict s':>9}  tokens/s each    pairs/s each"
    )
    for way, r in res.items():
        tps = " ".join(f"{m['tokens_per_s']:.1f}" for m in r["models"])
        pps = " ".join(f"{m.get('pairs_per_s') or 0:.2f}" for m in r["models"])
        print(
            f"{way:<13} {r['jobs']:>4} {r['threads_each']:>7} {r['train_seconds']:>8.1f} "
            f"{r['predict_seconds']:>9.1f}  {tps:<16} {pps}"
        )
    cpu, isa = cpu_info()
    print(
        f"side by side: {ratios['train']}x the training throughput, {ratios['predict']}x the prediction "
        f"throughput; same weights {same['weights']}, same predictions {same['predictions']} "
        "(on fewer threads bf16 sums may round apart)"
    )
    print(f"CPU: {cpu} ({isa}), {threads} torch threads in this process, profile {args.profile}")
    out = {"ways": res, "ratios": ratios, "same": same, "cpu": cpu, "isa": isa, "threads": threads}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
