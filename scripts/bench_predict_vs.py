"""Prediction speed, new code vs old code, side by side: the `fast` path of this checkout against the
`fast` path of another commit of the project (default cd838a5, the last one with one conversation
decoded at a time by tree attention), same model, same pairs, same params, same machine.

Each side runs `tft_utils.evaluate.predict.predict` in its own subprocess with its own package on sys.path
(the old one from a temporary `git worktree` of `--base-ref`, or from `--base-dir`), `--threads`
torch threads; the model load is outside the timing (`predict`'s own `seconds`, and the process's CPU
time from the end of the load). On a CPU shared with other busy processes the wall clock of each side
depends on what else runs meanwhile; the CPU time much less so (with one thread per side). The script
prints pairs/s of each side by both clocks, the ratios, and how many predictions differ (0 expected
in float32; in bfloat16 near-tied logits may round apart, see tft_utils/evaluate/predict.py), then one JSON line.

Pairs: every test pair of the first K test conversations (test_pairs.jsonl of the dataset built
from $TFT_SGD_DIR, else ../shared/sgd; or `--pairs FILE --tools FILE`); `--k 0`: all of them.

Usage: python scripts/bench_predict_vs.py [--profile cpu] [--model DIR] [--k 8] [--dtype float32]
       [--max-new-tokens 0] [--threads 1] [--base-ref cd838a5 | --base-dir DIR] [--order old,new]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASE_REF = "cd838a5"

# Runs in a subprocess: argv = package root, request JSON file, result JSON file.
SIDE = r"""
import json, sys, time
root, req, res = sys.argv[1:4]
sys.path.insert(0, root)
import torch
args = json.load(open(req))
if args["threads"]:
    torch.set_num_threads(args["threads"])
try:
    from tft_utils.core.params import load_params
    from tft_utils.train.loop import load_tools
    import tft_utils.evaluate.predict as module
except ModuleNotFoundError:  # old code, before the package was split by stage (issue 13 item 5)
    from tft_utils.params import load_params
    from tft_utils.train import load_tools
    import tft_utils.predict as module
load_pairs, predict = module.load_pairs, module.predict
assert module.__file__.startswith(root), module.__file__
pairs = [p for p in load_pairs(args["pairs"]) if str(p["dialogue_id"]) in set(args["ids"])]
params = load_params(args["profile"], overrides=args["overrides"])
tools = load_tools(args["tools"]) if args["tools"] else None
loaded = []  # CPU clock once the model is loaded: the decoding's CPU time excludes the load
init = module._Student.__init__
module._Student.__init__ = lambda self, *a, **kw: init(self, *a, **kw) or loaded.append(time.process_time())
out = predict(args["model"], pairs, params, tools=tools, method="fast", progress=False)
json.dump({"seconds": out["seconds"], "cpu_seconds": time.process_time() - loaded[0],
           "predictions": [r["prediction"] for r in out["rows"]],
           "threads": torch.get_num_threads(), "file": module.__file__}, open(res, "w"))
"""


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def side(root: Path, request: dict, tmp: Path, name: str) -> dict:
    req, res = tmp / f"{name}.req.json", tmp / f"{name}.res.json"
    req.write_text(json.dumps(request))
    env = dict(os.environ)
    if request["threads"]:
        env |= {"OMP_NUM_THREADS": str(request["threads"]), "MKL_NUM_THREADS": str(request["threads"])}
    print(f"[bench_predict_vs] {name}: {root}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-c", SIDE, str(root), str(req), str(res)], check=True, env=env, cwd=root)
    return json.loads(res.read_text())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student, dtype and max_new_tokens")
    ap.add_argument("--model", default=None, help="model folder (default: the profile's base student)")
    ap.add_argument(
        "--k", type=int, default=8, help="test conversations (the first K of the pairs file; 0: all)"
    )
    ap.add_argument(
        "--max-new-tokens",
        type=int,
        default=0,
        help="cap per prediction (default 0: the profile's predict.max_new_tokens, 128; 48 makes a short run)",
    )
    ap.add_argument("--dtype", default="float32", help="auto | bfloat16 | float32 (default float32)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads of each side (0: torch's default)"
    )
    ap.add_argument("--base-ref", default=BASE_REF, help="commit of the old code (a temporary git worktree)")
    ap.add_argument("--base-dir", default=None, help="a checkout of the old code (instead of --base-ref)")
    ap.add_argument("--order", default="old,new", help="which side runs first")
    ap.add_argument("--pairs", default=None, help="test_pairs.jsonl (default: built from the SGD folder)")
    ap.add_argument("--tools", default=None, help="tools.json (needed for a model without tft_render.json)")
    ap.add_argument(
        "-p", dest="params", action="append", default=[], help="extra override key=value (both sides)"
    )
    args = ap.parse_args(argv)

    from scripts.bench_predict import dataset_files
    from tft_utils.core.params import load_params, parse_override
    from tft_utils.evaluate.predict import load_pairs
    from tft_utils.train.student import base_model_dir

    overrides = [{"student": {"dtype": args.dtype}}]
    overrides += [{"predict": {"max_new_tokens": args.max_new_tokens}}] if args.max_new_tokens else []
    overrides += [parse_override(p) for p in args.params]
    params = load_params(args.profile, overrides=overrides)
    model = args.model or base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pairs_path, tools_path = (Path(args.pairs), args.tools) if args.pairs else dataset_files(tmp / "data")
        pairs = load_pairs(pairs_path)
        ids = list(dict.fromkeys(str(p["dialogue_id"]) for p in pairs))
        ids = ids[: args.k] if args.k else ids
        n_pairs = sum(str(p["dialogue_id"]) in ids for p in pairs)
        request = {
            "pairs": str(pairs_path),
            "tools": str(tools_path) if tools_path else None,
            "ids": ids,
            "model": str(model),
            "profile": args.profile,
            "overrides": overrides,
            "threads": args.threads,
        }
        base = Path(args.base_dir) if args.base_dir else tmp / "base"
        if not args.base_dir:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base_ref],
                check=True,
                capture_output=True,
            )
        try:
            roots = {"old": base, "new": REPO}
            # the old side gets the old defaults: drop overrides of keys it does not know
            results = {
                name: side(
                    roots[name],
                    request | ({"overrides": _known(overrides, base)} if name == "old" else {}),
                    tmp,
                    name,
                )
                for name in args.order.split(",")
            }
        finally:
            if not args.base_dir:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False
                )
    old, new = results["old"], results["new"]
    differ = [
        i for i, (a, b) in enumerate(zip(old["predictions"], new["predictions"], strict=True)) if a != b
    ]
    res = {
        "bench": "predict_vs",
        "base": args.base_dir or args.base_ref,
        "model": str(model),
        "cpu": cpu_model(),
        "dtype": args.dtype,
        "threads": new["threads"],
        "conversations": len(ids),
        "pairs": n_pairs,
        "max_new_tokens": params["predict"]["max_new_tokens"],
        "batch_streams": params["predict"].get("batch_streams"),
        "old_s": old["seconds"],
        "new_s": new["seconds"],
        "old_pairs_per_s": round(n_pairs / old["seconds"], 3),
        "new_pairs_per_s": round(n_pairs / new["seconds"], 3),
        "speedup": round(old["seconds"] / new["seconds"], 2),
        "old_cpu_s": round(old["cpu_seconds"], 1),
        "new_cpu_s": round(new["cpu_seconds"], 1),
        "old_pairs_per_cpu_s": round(n_pairs / old["cpu_seconds"], 3),
        "new_pairs_per_cpu_s": round(n_pairs / new["cpu_seconds"], 3),
        "cpu_speedup": round(old["cpu_seconds"] / new["cpu_seconds"], 2),
        "differ": len(differ),
    }
    print(
        f"bench_predict_vs: {n_pairs} pairs ({len(ids)} conversations), {Path(str(model)).name}, {res['dtype']}, "
        f"{res['threads']} thread(s) on {res['cpu']}, max_new_tokens {res['max_new_tokens']}"
    )
    print(f"{'side':<6}{'wall s':>10}{'pairs/s':>10}{'CPU s':>10}{'pairs/CPU s':>13}")
    for name in ("old", "new"):
        print(
            f"{name:<6}{res[name + '_s']:>10}{res[name + '_pairs_per_s']:>10}"
            f"{res[name + '_cpu_s']:>10}{res[name + '_pairs_per_cpu_s']:>13}"
        )
    print(
        f"speed-up {res['speedup']}x wall clock, {res['cpu_speedup']}x CPU time; "
        f"predictions that differ: {res['differ']} of {n_pairs}"
    )
    for i in differ[:3]:
        print(
            f"  pair {i}:\n    old: {old['predictions'][i][:160]!r}\n    new: {new['predictions'][i][:160]!r}"
        )
    print(json.dumps(res))
    return res


def _known(overrides: list[dict], root: Path) -> list[dict]:
    """The overrides whose keys exist in the defaults of the checkout at `root`."""
    import yaml

    defaults = yaml.safe_load((root / "params" / "defaults.yaml").read_text())

    def keep(diff: dict, base: dict) -> dict:
        return {
            k: keep(v, base[k]) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
            for k, v in diff.items()
            if k in base
        }

    return [keep(o, defaults) for o in overrides]


if __name__ == "__main__":
    main()
