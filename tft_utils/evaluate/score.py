"""`tft score`: every metric of STUDY §6 on a predictions file, with honest statistics.

Input rows carry `question` (JSON string of the messages before the turn), `answer` (JSON string
`{"name", "parameters"}`) and `prediction` (the model's raw output, or null); other fields are kept.
Output rows add `staged_tool_call`, `binary_tool_call`, `tool_call_equivalence`, `rouge_l`,
`llm_as_a_judge` (1.0 good / 0.0 bad), `judge_verdict` (good | bad | unparseable), `judge_reason`
and `error_type` (the staged ladder's failure kind, e.g. `turn:wrong_tool`). With `--judge llm` the
rubric's verdict is kept beside it (`rubric_as_a_judge`) so the two judges can be compared.

Reference baselines, scored by the same code: `gold` (must score 1.0 everywhere), `fixed_question`
(always respond_to_user with one fixed question) and `repeat_previous` (repeat the previous
assistant call; nothing on the first turn): the floor any trained student has to clear.
"""

from __future__ import annotations

import json
import os
from collections import Counter

from tft_utils.core.io import DataError, numbered_jsonl, write_json, write_jsonl
from tft_utils.core.params import seed_of
from tft_utils.domain.calls import call_of, parse_tool_call
from tft_utils.domain.messages import checked_messages
from tft_utils.domain.tools import RESPOND, SERVICE_TOOLS
from tft_utils.evaluate.judge.rubric import rubric_judge
from tft_utils.evaluate.metrics import METRICS, evaluate_pair
from tft_utils.evaluate.stats import (
    agreement,
    confusion_matrix,
    judge_metric_agreement,
    per_function,
    summary_table,
)

JUDGE = "llm_as_a_judge"
SCORES = (*METRICS, JUDGE)
BASELINES = ("gold", "fixed_question", "repeat_previous")


def _messages(row: dict, where: str) -> list[dict]:
    q = row.get("question")
    try:
        messages = json.loads(q) if isinstance(q, str) else q
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: field 'question' is not valid JSON ({e.msg})") from e
    if not isinstance(messages, list):
        raise DataError(f"{where}: field 'question' must be a JSON list of chat messages with a 'role'")
    return checked_messages(messages, f"{where}: field 'question'") if messages else messages


def check_row(row: dict, where: str, need_prediction: bool = True) -> list[dict]:
    """Raise DataError naming `where` and the field when a row cannot be scored."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object")
    for field in ("question", "answer") + (("prediction",) if need_prediction else ()):
        if field not in row:
            raise DataError(f"{where}: missing field '{field}'")
    if parse_tool_call(row["answer"]) is None:
        raise DataError(f"{where}: field 'answer' is not a {{name, parameters}} tool call")
    if need_prediction and not isinstance(row["prediction"], (str, dict, type(None))):
        raise DataError(f"{where}: field 'prediction' must be a string or null")
    return _messages(row, where)


def baseline_prediction(row: dict, kind: str, question: str) -> str:
    if kind == "gold":
        return row["answer"]
    if kind == "fixed_question":
        return json.dumps({"name": RESPOND, "parameters": {"message": question}})
    if kind == "repeat_previous":
        calls = [m for m in _messages(row, "row") if m.get("role") == "assistant" and m.get("tool_calls")]
        if not calls:
            return ""
        name, args = call_of(calls[-1])
        return json.dumps({"name": name, "parameters": args}, ensure_ascii=False)
    raise ValueError(f"unknown baseline '{kind}' (choose from {', '.join(BASELINES)})")


def score_rows(
    rows: list[dict],
    judge: str | None = None,
    params: dict | None = None,
    client=None,
    source: str = "rows",
    lines: list[int] | None = None,
    progress: bool = False,
) -> list[dict]:
    """Score prediction rows (see the module docstring); `lines` name rows in errors."""
    from tft_utils.core.params import ParamsError, load_params

    params = params or load_params()
    ev = params["evaluate"]
    judge = judge or ev["judge"]
    if judge not in ("rubric", "llm"):
        raise ParamsError(f"judge must be rubric or llm, got {judge!r}")
    lines = lines or list(range(1, len(rows) + 1))
    messages = [check_row(row, f"{source}:{line}") for row, line in zip(rows, lines, strict=True)]
    rubric = [
        rubric_judge(m, r["answer"], r["prediction"], ev["today"])
        for m, r in zip(messages, rows, strict=True)
    ]
    verdicts = rubric
    if judge == "llm":
        verdicts = _llm_verdicts(rows, params, client, progress)
    out = []
    for row, v, rv in zip(rows, verdicts, rubric, strict=True):
        checks = evaluate_pair(row["answer"], row["prediction"])
        scored = {**row, **{m: c.score for m, c in checks.items()}}
        good = v.good if v.good is not None else (rv.good if ev["judge_unparseable"] == "rubric" else False)
        scored[JUDGE] = 1.0 if good else 0.0
        scored["judge_verdict"] = "unparseable" if v.good is None else ("good" if v.good else "bad")
        scored["judge_reason"] = v.reason
        scored["error_type"] = checks["staged_tool_call"].error_type
        if judge == "llm":
            scored["rubric_as_a_judge"] = 1.0 if rv.good else 0.0
        out.append(scored)
    return out


def _llm_verdicts(rows, params, client, progress):
    from tft_utils.core.params import ParamsError
    from tft_utils.evaluate.judge.llm import llm_judge_many

    if client is None:
        from tft_utils.llm.backends import make_client

        client = make_client(params, "judge")
        if client is None:
            raise ParamsError("--judge llm needs roles.judge set to an endpoint name (it is 'rules')")
    return llm_judge_many(client, [(r["question"], r["answer"], r["prediction"]) for r in rows], progress)


def summarize(scored: list[dict], params: dict) -> dict:
    """Means with conversation-bootstrap intervals, per-function scores, the confusion matrix,
    failure kinds, judge counts (unparseable included) and judge-vs-metric agreement."""
    ev = params["evaluate"]
    table = summary_table(scored, SCORES, ev["bootstrap_samples"], seed_of(params, "evaluate"), ev["ci"])
    verdicts = Counter(r["judge_verdict"] for r in scored)
    out = {
        "pairs": len(scored),
        "conversations": int(table["groups"].iloc[0]) if scored else 0,
        "metrics": table.to_dict(orient="index"),
        "per_function": per_function(scored, SCORES).to_dict(orient="index"),
        "confusion": confusion_matrix(scored).to_dict(orient="index"),
        "error_types": error_types(scored),
        "judge_verdicts": {k: verdicts.get(k, 0) for k in ("good", "bad", "unparseable")},
        "judge_vs_metrics": judge_metric_agreement(scored).to_dict(orient="index"),
    }
    if scored and "rubric_as_a_judge" in scored[0]:
        llm = [None if r["judge_verdict"] == "unparseable" else r[JUDGE] >= 0.5 for r in scored]
        out["rubric_vs_llm"] = agreement([r["rubric_as_a_judge"] >= 0.5 for r in scored], llm)
    return out


def error_types(scored: list[dict]) -> dict[str, int]:
    """How many pairs failed each way (`turn:wrong_tool`, ...; "ok" for none)."""
    return dict(Counter(r["error_type"] or "ok" for r in scored))


def service_calls(scored: list[dict]) -> dict:
    """What issue 11 counts on one model's scored pairs: of the pairs whose gold answer is a service
    call (FindRestaurants / ReserveRestaurant; 72 of the 360 `sgd` test pairs), how many the judge
    calls good, how many call the right function, how many are exact calls (`binary_tool_call`); and
    how many reply pairs (gold `respond_to_user`) got a service call instead, what pushing calls costs."""
    gold = [parse_tool_call(r["answer"]).name for r in scored]
    pred = [parse_tool_call(r.get("prediction")) for r in scored]
    calls = [i for i, g in enumerate(gold) if g in SERVICE_TOOLS]
    replies = [i for i, g in enumerate(gold) if g not in SERVICE_TOOLS]
    return {
        "calls": len(calls),
        "judged_good": round(sum(scored[i][JUDGE] for i in calls)),
        "right_function": sum(pred[i] is not None and pred[i].name == gold[i] for i in calls),
        "exact": round(sum(scored[i]["binary_tool_call"] for i in calls)),
        "replies": len(replies),
        "replies_called": sum(pred[i] is not None and pred[i].name in SERVICE_TOOLS for i in replies),
    }


def format_summary(summary: dict) -> str:
    import pandas as pd

    lines = [f"{summary['pairs']} pairs from {summary['conversations']} conversations", ""]
    m = pd.DataFrame(summary["metrics"]).T[["mean", "ci_low", "ci_high"]]
    lines += [m.round(3).to_string(), "", "per gold function:"]
    lines += [
        pd.DataFrame(summary["per_function"]).T.round(3).to_string(),
        "",
        "confusion (gold x predicted):",
    ]
    lines += [pd.DataFrame(summary["confusion"]).T.fillna(0).astype(int).to_string(), ""]
    lines.append(f"failure kinds: {summary['error_types']}")
    lines.append(f"judge verdicts: {summary['judge_verdicts']}")
    if "rubric_vs_llm" in summary:
        a = summary["rubric_vs_llm"]
        lines.append(
            f"rubric vs LLM judge: agreement {a['agreement']:.3f}, kappa {a['kappa']:.3f} on {a['n']} pairs"
        )
    return "\n".join(lines)


def read_rows(path: str | os.PathLike) -> tuple[list[dict], list[int]]:
    """JSONL rows and their line numbers (blank lines skipped); a bad line, or no row at all, raises
    DataError."""
    numbered = list(numbered_jsonl(path))
    if not numbered:
        raise DataError(f"{path}: no rows to score (an empty file)")
    return [r for _, r in numbered], [n for n, _ in numbered]


def score_file(
    path,
    judge: str | None = None,
    out=None,
    params: dict | None = None,
    client=None,
    baseline: str | None = None,
    progress: bool = True,
) -> tuple[list[dict], dict]:
    """Score a predictions file (or, with `baseline`, a pairs file under that baseline); write
    OUT (scored rows) and OUT with `.summary.json` (summary + provenance) when `out` is given."""
    from tft_utils.core.params import load_params

    params = params or load_params()
    rows, lines = read_rows(path)
    if baseline:
        for row, line in zip(rows, lines, strict=True):
            check_row(row, f"{path}:{line}", need_prediction=False)
        question = params["evaluate"]["baseline_question"]
        rows = [{**r, "prediction": baseline_prediction(r, baseline, question)} for r in rows]
    scored = score_rows(rows, judge, params, client, str(path), lines, progress)
    summary = summarize(scored, params)
    if out:
        from tft_utils.core.provenance import provenance

        write_jsonl(out, scored)
        meta = {"input": str(path), "judge": judge or params["evaluate"]["judge"], "baseline": baseline}
        write_json(
            str(out).removesuffix(".jsonl") + ".summary.json",
            {**meta, **summary, "provenance": provenance(params)},
        )
    return scored, summary


def score_baselines(pairs_path, params: dict | None = None):
    """Mean of every metric for each reference baseline (rows: baselines), rubric judge."""
    import pandas as pd

    table = {
        b: {
            m: v["mean"]
            for m, v in score_file(pairs_path, "rubric", None, params, baseline=b)[1]["metrics"].items()
        }
        for b in BASELINES
    }
    return pd.DataFrame(table).T


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("score", help="score predictions: metrics, judge, bootstrap intervals")
    p.add_argument("predictions", help="JSONL rows with question, answer, prediction")
    p.add_argument("--judge", choices=("rubric", "llm"), default=None, help="default: evaluate.judge")
    p.add_argument("--out", default=None, help="scored rows (JSONL); a .summary.json is written beside it")
    p.add_argument(
        "--baseline",
        choices=BASELINES,
        default=None,
        help="score a pairs file (question, answer) under a reference baseline instead",
    )
    add_params_args(p)
    p.set_defaults(func=_cmd_score)


def _cmd_score(args) -> int:
    from tft_utils.core.params import params_from_args

    params = params_from_args(args)
    _, summary = score_file(args.predictions, args.judge, args.out, params, baseline=args.baseline)
    print(format_summary(summary))
    return 0
