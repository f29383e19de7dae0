"""`tft train`: fine-tune the student on a JSONL file of traces or per-turn pairs (the CLI of `train.loop`).

Kept apart from the training loop so that editing the command retrains nothing (a student's fingerprint
counts the code `train/loop.py` imports). Like notebook 05, it fingerprints what it trains
(`arms.student_fingerprint`: the conversations, base, tools, parameters, seed and code): a finished model
of the same fingerprint in OUT is reused (`--force` retrains), and a checkpoint left in OUT by a run of
other inputs or parameters is removed, with a message, rather than resumed into this one.
"""

from __future__ import annotations

import json


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("train", help="LoRA fine-tune the student on traces or per-turn pairs")
    p.add_argument("train_file", help="JSONL of traces (messages) or pairs (question, answer)")
    p.add_argument("--out", required=True, help="model folder to write (merged weights + tokenizer)")
    p.add_argument("--tools", required=True, help="tools.json of the target schema (from `tft data`)")
    p.add_argument("--base", default=None, help="base model folder or Hub id (default: student.model)")
    p.add_argument("--force", action="store_true", help="retrain even if OUT holds this very model")
    add_params_args(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from pathlib import Path

    from tft_utils.core import fresh
    from tft_utils.core.io import DataError, read_json
    from tft_utils.core.params import params_from_args, seed_of
    from tft_utils.train.arms import student_fingerprint
    from tft_utils.train.loop import read_conversations, train
    from tft_utils.train.render import load_tools

    params = params_from_args(args)
    out = Path(args.out)
    convs, tools = read_conversations(args.train_file), load_tools(args.tools)
    if not convs:
        raise DataError(f"{args.train_file}: no traces or pairs (an empty file)")
    seed = seed_of(params, "train")
    fp = student_fingerprint(convs, {}, params, seed, base=args.base, tools=args.tools)
    if fresh.reuse(out, fp, args.force or fresh.forced(params), print, str(out)):
        stats = read_json(out / "train_stats.json")
    else:
        for p in fresh.begin(out, fp, leftovers=[out / "checkpoint"]):
            print(f"{p}: left by a run of other inputs or parameters; removed, not resumed into this one")
        stats = train(convs, out, params, tools, base=args.base)
        fresh.stamp(out, fp)
    print(json.dumps({k: v for k, v in stats.items() if k not in ("history", "train_params")}, indent=2))
    return 0
