"""`tft pairs`: a user's held-out traces -> the test pairs `tft predict` and `tft score` read.

Each trace (one JSON object a line: `dialogue_id`, `messages` in the chat format every command reads,
`domain/messages.py`) gives one pair per assistant turn: the question is every message before that turn,
the answer its tool call (a text reply counts as `respond_to_user`), exactly as `tft data` expands the
SGD test conversations (`data.traces.trace_to_pairs`). A separate module, so that editing the command
retrains nothing (the students' code counts `data/traces.py`, not this file).
"""

from __future__ import annotations

import json
from collections import Counter


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser(
        "pairs",
        help="your held-out traces -> test pairs (one per assistant turn) for tft predict / tft score",
    )
    p.add_argument("traces_file", help="JSONL: one trace a line, {dialogue_id, messages}")
    p.add_argument("--out", required=True, help="output JSONL of pairs {dialogue_id, turn, question, answer}")
    add_params_args(p)
    p.set_defaults(func=_cmd_pairs)


def traces_to_pairs(path) -> list[dict]:
    """The pairs of every trace of a JSONL file, in file order; DataError naming the line of a bad trace."""
    from tft_utils.core.io import DataError
    from tft_utils.data.traces import trace_to_pairs
    from tft_utils.domain.trace_files import read_traces, trace_where

    pairs = []
    for line, t in read_traces(path):  # unique ids: predict and score match pairs by (dialogue_id, turn)
        try:
            found = trace_to_pairs({"dialogue_id": str(t["dialogue_id"]), "messages": t["messages"]})
        except DataError as e:  # an assistant turn with neither a readable call nor text
            raise DataError(f"{trace_where(path, line, t)}: {e}") from e
        if not found:
            raise DataError(f"{trace_where(path, line, t)}: no assistant turn, so nothing to predict")
        pairs += found
    return pairs


def _cmd_pairs(args) -> int:
    from tft_utils.core.io import write_jsonl

    pairs = traces_to_pairs(args.traces_file)
    write_jsonl(args.out, pairs)
    answers = Counter(json.loads(p["answer"])["name"] for p in pairs)
    traces = len({p["dialogue_id"] for p in pairs})
    print(
        json.dumps({"traces": traces, "pairs": len(pairs), "answers": dict(answers.most_common())}, indent=2)
    )
    return 0
