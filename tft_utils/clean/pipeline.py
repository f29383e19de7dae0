"""`tft clean TRACES --out DIR`: filter -> align -> committee relabel (STUDY §4.1-4.2).

Reads only TRACES (plus the target tool schema and params); never the scenario's corruptions, the clean
source or anything keyed by dialogue id. Writes, each atomically:
- DIR/scores.jsonl   one row per input trace: relevance, coherence, reason, scorer, kept;
- DIR/align.jsonl    one row per kept trace: names renamed onto the target, keys dropped, evidence;
- DIR/kept.jsonl     kept traces with the final calls. A turn the committee could not settle keeps its
                     original call and carries `"masked": true` on its assistant message: train on the
                     conversation as context, skip that turn in the loss;
- DIR/dropped.jsonl  dropped traces as they came, plus `"drop_reason"`;
- DIR/turns.jsonl    one row per assistant turn of kept traces: dialogue_id, turn (index in messages),
                     original, proposals {member: call}, final (null when masked), masked, decision, agreement;
- DIR/stats.json     counts, member agreement, LLM ledger, provenance - written last: its presence with the
                     same input hash and params means the run is complete, and a rerun returns at once.
LLM members and the teacher go through the shared call cache, so a crashed run resumes without
repeating finished calls.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

from tft_utils.clean.align import align
from tft_utils.clean.filter import score_traces
from tft_utils.clean.relabel import relabel_traces
from tft_utils.core.io import DataError, read_json, write_json, write_jsonl
from tft_utils.domain.calls import read_call, write_call
from tft_utils.domain.trace_files import read_traces

OUTPUTS = ("scores.jsonl", "align.jsonl", "kept.jsonl", "dropped.jsonl", "turns.jsonl", "stats.json")


def load_input(path) -> list[dict]:
    """The traces of a JSONL file, each with its own dialogue_id (turns are matched by id and turn) and
    messages of the shape every stage reads (`domain.messages`); DataError naming the line otherwise."""
    return [t for _, t in read_traces(path)]


def clean_traces(traces: list[dict], params: dict, members=None, filter_client=None, teacher=None) -> dict:
    """The whole pipeline in memory. `members`: [(name, client|None)] (default: roles.committee)."""
    if members is None:
        from tft_utils.llm.backends import committee_clients

        members = committee_clients(params)
    scores = score_traces(traces, params, filter_client)
    kept_in = [t for t, s in zip(traces, scores, strict=False) if s["kept"]]
    dropped = [
        dict(copy.deepcopy(t), drop_reason=_why(s, params))
        for t, s in zip(traces, scores, strict=False)
        if not s["kept"]
    ]
    aligned, align_rows = align(kept_in, params["align"])
    turns = relabel_traces(aligned, params, members, teacher)
    kept = apply_decisions(aligned, turns)
    return {
        "scores": scores,
        "align": align_rows,
        "kept": kept,
        "dropped": dropped,
        "turns": turns,
        "members": [name for name, _ in members],
    }


def _why(score: dict, params: dict) -> str:
    fp = params["filter"]
    low = [
        f"{k} {score[k]} < {fp[k + '_min']}" for k in ("relevance", "coherence") if score[k] < fp[k + "_min"]
    ]
    return "; ".join(low) + f" ({score['reason']})"


def apply_decisions(aligned: list[dict], turns: list[dict]) -> list[dict]:
    """Write each turn's final call into its trace; masked turns keep the original and say so."""
    by_turn = {(r["dialogue_id"], r["turn"]): r for r in turns}
    out = []
    for t in aligned:
        t = copy.deepcopy(t)
        for i, m in enumerate(t["messages"]):
            row = by_turn.get((t["dialogue_id"], i))
            if row is None:
                continue
            if row["masked"]:
                m["masked"] = True
            elif row["final"] != read_call(m):
                write_call(m, row["final"])
        out.append(t)
    return out


def summary(result: dict) -> dict:
    turns = result["turns"]
    decisions = Counter(r["decision"] for r in turns)
    agreement = {}
    for stage in ("name", "keys", "values"):
        vals = [r["agreement"][stage] for r in turns if stage in r["agreement"]]
        agreement[stage] = round(sum(vals) / len(vals), 4) if vals else None
    pairwise = {}  # how often two members propose the same call (function name; whole call)
    names = result["members"]
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            pa = [(r["proposals"][names[a]], r["proposals"][names[b]]) for r in turns]
            both = [(x, y) for x, y in pa if x and y]
            pairwise[f"{names[a]} ~ {names[b]}"] = {
                "name": round(sum(x["name"] == y["name"] for x, y in both) / max(1, len(both)), 4),
                "call": round(sum(x == y for x, y in both) / max(1, len(both)), 4),
                "both_voted": len(both),
            }
    return {
        "traces_in": len(result["scores"]),
        "kept": len(result["kept"]),
        "dropped": len(result["dropped"]),
        "turns": len(turns),
        "decisions": dict(decisions),
        "masked_share": round(decisions["masked"] / max(1, len(turns)), 4),
        "renamed_traces": sum(bool(r["renamed"]) for r in result["align"]),
        "mean_stage_agreement": agreement,
        "member_agreement": pairwise,
        "members": names,
    }


def fingerprint(traces_path, params: dict) -> dict:
    """What a cleaned folder is made of: the traces, the cleaning params, the roles' endpoints and the code of
    this module and what it imports (`fresh.code_of`)."""
    from tft_utils.core import fresh

    keys = ("filter", "align", "relabel", "roles", "backends")
    return fresh.make(
        "clean",
        {k: params[k] for k in keys},
        {"traces": traces_path},
        params["run"]["seed"],
        code=fresh.code_of("clean/pipeline.py"),
    )


def run_clean(traces_path, out, params: dict, force: bool = False, log=print) -> dict:
    """Clean TRACES into DIR (see module docstring); a finished run with the same inputs is not redone."""
    from tft_utils.core import fresh

    out = Path(out)
    if not Path(traces_path).exists():
        raise DataError(f"{traces_path}: file not found")
    fp = fingerprint(traces_path, params)
    if fresh.reuse(out, fp, force or fresh.forced(params)) and all((out / f).exists() for f in OUTPUTS):
        log(f"{out}: already cleaned with these traces and params (use --force to redo)")
        return read_json(out / "stats.json")
    from tft_utils.llm.backends import LEDGER, committee_clients, make_client

    # the old fingerprint goes before the first file is rewritten: a run that dies halfway leaves a folder
    # no rerun takes for finished, whichever traces it is given
    fresh.begin(out, fp)
    result = clean_traces(
        load_input(traces_path),
        params,
        committee_clients(params),
        make_client(params, "filter"),
        make_client(params, "teacher"),
    )
    write_jsonl(out / "scores.jsonl", result["scores"])
    write_jsonl(out / "align.jsonl", result["align"])
    write_jsonl(out / "kept.jsonl", result["kept"])
    write_jsonl(out / "dropped.jsonl", result["dropped"])
    write_jsonl(out / "turns.jsonl", result["turns"])
    stats = dict(summary(result), fingerprint=fp["digest"], traces=str(traces_path), ledger=LEDGER.rows())
    try:
        from tft_utils.core.provenance import provenance

        stats["provenance"] = provenance(params)
    except ImportError:  # provenance module not installed in a stripped-down checkout
        stats["provenance"] = {"params": params}
    write_json(out / "stats.json", stats)
    fresh.stamp(out, fp)
    return stats


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("clean", help="TFT cleaning: filter -> align -> committee relabel")
    p.add_argument("traces", help="traces.jsonl of a scenario (only this file is read)")
    p.add_argument("--out", required=True, help="output folder (kept/dropped/turns.jsonl, stats.json)")
    p.add_argument("--force", action="store_true", help="redo even if DIR holds a finished run")
    add_params_args(p)
    p.set_defaults(func=_cmd_clean)


def _cmd_clean(args) -> int:
    from tft_utils.core.params import params_from_args

    params = params_from_args(args)
    stats = run_clean(args.traces, args.out, params, force=args.force)
    print(
        json.dumps(
            {k: stats[k] for k in ("traces_in", "kept", "dropped", "turns", "decisions", "masked_share")},
            indent=2,
        )
    )
    return 0
