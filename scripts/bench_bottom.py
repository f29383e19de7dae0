"""The frozen bottom shared by the students of one process (`train.shared_bottom_mb`): speed and bytes.

Five real students of the profile's recipe (its model without the tool base, LoRA on the top `train.lora_layers`, compiled
layers, padded bf16 on a CPU with bf16 units) train on the same conversations, `--steps` optimizer
steps each, one after another in this process, as notebook 05 trains its seeds:

  seed0-alone   seed 0, nothing shared (what a run's first student costs)
  seed0-fill    seed 0 with a SharedBottom: runs every bottom and keeps it
  seed0-again   seed 0 again with it: every pass starts from a kept output
  seed1-shared  seed 1 with it: the passes over sequences seed 0 saw start from kept outputs
  seed1-alone   seed 1, nothing shared

Printed per student: passes that reused a kept output, training tokens/s (compiling happens in the
first student: compare seed0-again with seed0-fill and seed1-shared with seed1-alone), the sha256 of the
merged weights (a student from kept outputs must equal the one trained alone, byte for byte), then the
ratios, the CPU (model, ISA), threads, and one JSON line.

Data: the train pool's first `--n` conversations (tft_utils.data.traces.build_dataset from $TFT_SGD_DIR,
else ../shared/sgd), in file order.

Usage: python scripts/bench_bottom.py [--profile cpu] [--n 60] [--steps 60] [--threads 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_learning import cpu_info  # noqa: E402
from bench_train import dataset_files  # noqa: E402

from tft_utils.core.io import read_jsonl  # noqa: E402
from tft_utils.core.params import load_params  # noqa: E402
from tft_utils.train.bottom import SharedBottom  # noqa: E402
from tft_utils.train.loop import conversations_from_rows, train  # noqa: E402
from tft_utils.train.render import load_tools  # noqa: E402

STUDENTS = (  # name, seed, shared
    ("seed0-alone", 0, False),
    ("seed0-fill", 0, True),
    ("seed0-again", 0, True),
    ("seed1-shared", 1, True),
    ("seed1-alone", 1, False),
)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student, base and recipe")
    ap.add_argument("--n", type=int, default=60, help="conversations of the train pool to train on")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per student")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # the profile's model itself, not its tool base (a step costs the same; a benchmark never builds the base)
    params = load_params(
        args.profile, overrides=[{"train": {"max_steps": args.steps}, "student": {"tool_base": "none"}}]
    )
    if params["train"]["lora_layers"] <= 0:
        sys.exit(
            f"profile {args.profile}: train.lora_layers is 0 (adapters on every layer): no frozen bottom"
        )
    shared = SharedBottom(params["train"]["shared_bottom_mb"])
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        traces, tools_path = dataset_files(Path(tmp) / "data")
        convs = conversations_from_rows(read_jsonl(traces), str(traces))[: args.n]
        tools = load_tools(tools_path)
        for name, seed, share in STUDENTS:
            print(f"[{name}] {args.steps} steps ...", file=sys.stderr, flush=True)
            p = {**params, "train": {**params["train"], "seed": seed}}
            out = Path(tmp) / name
            stats = train(convs, out, p, tools, progress=False, shared=shared if share else None)
            res[name] = {
                "reused": stats["bottom_reused"],
                "passes": stats["steps"] * params["train"]["conversations_per_step"],
                "tokens_per_s": stats["tokens_per_s"],
                "sha256": hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()[:16],
                "sequences": stats["sequences"],
            }
    print(f"{'student':<13} {'reused':>10} {'tokens/s':>9}  weights (sha256)")
    for name, r in res.items():
        print(f"{name:<13} {r['reused']:>4} of {r['passes']:<3} {r['tokens_per_s']:>9.1f}  {r['sha256']}")
    ratios = {
        "every_pass_reused": round(res["seed0-again"]["tokens_per_s"] / res["seed0-fill"]["tokens_per_s"], 3),
        "seed1": round(res["seed1-shared"]["tokens_per_s"] / res["seed1-alone"]["tokens_per_s"], 3),
    }
    same = {
        "seed0": len({res[n]["sha256"] for n in ("seed0-alone", "seed0-fill", "seed0-again")}) == 1,
        "seed1": res["seed1-shared"]["sha256"] == res["seed1-alone"]["sha256"],
    }
    cpu, isa = cpu_info()
    print(
        f"every pass from a kept output: {ratios['every_pass_reused']}x the tokens/s; seed 1 "
        f"({res['seed1-shared']['reused']} of {res['seed1-shared']['passes']} reused): {ratios['seed1']}x; "
        f"same weights with and without: seed 0 {same['seed0']}, seed 1 {same['seed1']}"
    )
    print(
        f"CPU: {cpu} ({isa}), {torch.get_num_threads()} torch threads, LoRA on the top "
        f"{params['train']['lora_layers']} layers, {res['seed0-alone']['sequences']} sequences"
    )
    out = {"students": res, "ratios": ratios, "same_weights": same, "cpu": cpu, "isa": isa}
    print(json.dumps(out))
    if not all(same.values()):
        sys.exit("weights differ with and without the shared bottom")
    return out


if __name__ == "__main__":
    main()
