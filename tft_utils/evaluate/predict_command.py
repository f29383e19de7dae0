"""`tft predict`: greedy predictions of a model for every pair of a file (the CLI of `evaluate.predict`).

Kept apart from the decoding so that editing the command re-predicts nothing (predictions count the code
`evaluate/predict.py` imports). Like notebook 06, it fingerprints what it predicts
(`compare.predictions_fingerprint`: the model, pairs, tools, decoding parameters and code): predictions of
the same fingerprint in OUT are reused (`--force` predicts again), and OUT.partial left by another model,
pairs file or parameters is removed, with a message, instead of being resumed into these predictions.
"""

from __future__ import annotations

import json


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("predict", help="greedy student predictions for every test pair")
    p.add_argument("model_dir", help="model folder (from `tft train`), or a base model with --tools")
    p.add_argument("pairs_file", help="test_pairs.jsonl (dialogue_id, turn, question, answer)")
    p.add_argument("--out", required=True, help="predictions JSONL to write")
    p.add_argument("--tools", default=None, help="tools.json; needed for a model not trained by `tft train`")
    p.add_argument("--force", action="store_true", help="predict again even if OUT holds these predictions")
    add_params_args(p)
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    from pathlib import Path

    from tft_utils.core import fresh
    from tft_utils.core.params import params_from_args
    from tft_utils.evaluate.compare import predictions_fingerprint
    from tft_utils.evaluate.predict import load_pairs, predict
    from tft_utils.train.render import load_tools
    from tft_utils.train.student import base_model_dir

    params = params_from_args(args)
    pairs = load_pairs(args.pairs_file)  # read once; a bad file is named before any model is made or loaded
    tools = load_tools(args.tools) if args.tools else None
    model = args.model_dir
    if model in ("cpu", "smoke", "paper"):  # a profile name: the untuned base student
        model = base_model_dir(model, params["student"]["cache_dir"])
    out = Path(args.out)
    fp = predictions_fingerprint(model, args.pairs_file, args.tools, params)
    if fresh.reuse(out, fp, args.force or fresh.forced(params), print, str(out)):
        return 0
    for p in fresh.begin(out, fp, leftovers=[Path(str(out) + ".partial")]):
        print(f"{p}: left by another model, pairs file or parameters; removed, not resumed into these")
    res = predict(model, pairs, params, out=out, tools=tools)
    fresh.stamp(out, fp)
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))
    return 0
