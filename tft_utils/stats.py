"""Statistics that respect the data (STUDY §8): the 360 test pairs come from 34 conversations, so
every interval resamples whole conversations, not pairs (pairs of one conversation are correlated).

- `bootstrap_mean`: mean and percentile interval, resampling conversations with replacement (seeded);
  each replicate's mean is over the pairs of the drawn conversations.
- `summary_table`: that for every metric; `per_function`: scores by gold function;
  `confusion_matrix`: gold function x predicted function.
- `paired_comparison`: model A - model B on the same pairs, the interval from resampling conversations.
- `agreement`: how often two binary labelings agree, with Cohen's kappa (judge vs metric, rubric vs LLM).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from tft_utils.evaluate import parse_tool_call

UNPARSEABLE = "(unparseable)"


def conversation_key(row: dict) -> str:
    """The conversation a pair belongs to: its dialogue_id, else its first message (same dialogue,
    same opening), so published-format rows without ids still group correctly."""
    if row.get("dialogue_id"):
        return str(row["dialogue_id"])
    q = row.get("question")
    messages = json.loads(q) if isinstance(q, str) else (q or [])
    first = json.dumps(messages[:1], sort_keys=True)
    return "q:" + hashlib.sha1(first.encode()).hexdigest()[:12]


def bootstrap_mean(values, groups, n_samples: int = 2000, seed: int = 0, ci: float = 0.95) -> dict:
    """Mean of `values` and its `ci` percentile interval, resampling the groups (conversations)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0, "groups": 0}
    _, gidx = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    sums = np.bincount(gidx, weights=values)
    counts = np.bincount(gidx).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(n_samples, len(sums)))
    # replicate mean = (sum of the drawn conversations' pair scores) / (their pair count)
    reps = sums[draws].sum(1) / counts[draws].sum(1)
    lo, hi = np.quantile(reps, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return {
        "mean": float(values.mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n": int(values.size),
        "groups": int(len(sums)),
    }


def summary_table(
    rows: list[dict], metrics, n_samples: int = 2000, seed: int = 0, ci: float = 0.95
) -> pd.DataFrame:
    groups = [conversation_key(r) for r in rows]
    out = []
    for m in metrics:
        vals = [r[m] for r in rows]
        out.append({"metric": m, **bootstrap_mean(vals, groups, n_samples, seed, ci)})
    return pd.DataFrame(out).set_index("metric")


def _gold_name(row: dict) -> str:
    call = parse_tool_call(row["answer"])
    return call.name if call else UNPARSEABLE


def _pred_name(row: dict) -> str:
    call = parse_tool_call(row.get("prediction"))
    return call.name if call else UNPARSEABLE


def per_function(rows: list[dict], metrics) -> pd.DataFrame:
    """Mean of each metric by the gold answer's function, with the pair count."""
    df = pd.DataFrame([{"function": _gold_name(r), **{m: r[m] for m in metrics}} for r in rows])
    table = df.groupby("function")[list(metrics)].mean()
    table.insert(0, "n", df.groupby("function").size())
    return table


def confusion_matrix(rows: list[dict]) -> pd.DataFrame:
    """Counts: rows are gold functions, columns predicted functions ("(unparseable)" included)."""
    df = pd.DataFrame({"gold": [_gold_name(r) for r in rows], "predicted": [_pred_name(r) for r in rows]})
    return pd.crosstab(df["gold"], df["predicted"])


def paired_comparison(
    rows_a: list[dict],
    rows_b: list[dict],
    metric: str,
    n_samples: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict:
    """A - B on the pairs both scored (matched by conversation and question/answer), with a
    conversation-bootstrap interval and the share of replicates where A does not beat B."""

    def key(r):
        return (conversation_key(r), r.get("turn"), r["question"], r["answer"])

    b_by_key = {key(r): r[metric] for r in rows_b}
    diffs, groups = [], []
    for r in rows_a:
        if key(r) in b_by_key:
            diffs.append(r[metric] - b_by_key[key(r)])
            groups.append(conversation_key(r))
    if not diffs:
        raise ValueError("paired_comparison: the two files share no pairs")
    res = bootstrap_mean(diffs, groups, n_samples, seed, ci)
    _, gidx = np.unique(np.asarray(groups), return_inverse=True)
    sums, counts = np.bincount(gidx, weights=diffs), np.bincount(gidx).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(sums), size=(n_samples, len(sums)))
    reps = sums[draws].sum(1) / counts[draws].sum(1)
    return {
        "metric": metric,
        "diff": res["mean"],
        "ci_low": res["ci_low"],
        "ci_high": res["ci_high"],
        "p_not_better": float((reps <= 0).mean()),
        "pairs": res["n"],
        "conversations": res["groups"],
        "unmatched_a": len(rows_a) - res["n"],
        "unmatched_b": len(rows_b) - res["n"],
    }


def agreement(a, b) -> dict:
    """Agreement of two binary labelings (pairs where either is None are counted as skipped)."""
    both = [(bool(x), bool(y)) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    n = len(both)
    if n == 0:
        return {"n": 0, "agreement": float("nan"), "kappa": float("nan"), "skipped": len(a)}
    x, y = np.array(both).T
    po = float((x == y).mean())
    pe = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    kappa = (po - pe) / (1 - pe) if pe < 1 else 1.0
    return {
        "n": n,
        "agreement": po,
        "kappa": kappa,
        "both_good": int((x & y).sum()),
        "only_a_good": int((x & ~y).sum()),
        "only_b_good": int((~x & y).sum()),
        "both_bad": int((~x & ~y).sum()),
        "skipped": len(a) - n,
    }


def judge_metric_agreement(
    rows: list[dict],
    judge: str = "llm_as_a_judge",
    metrics=("binary_tool_call", "tool_call_equivalence", "staged_tool_call"),
) -> pd.DataFrame:
    """How often the judge's verdict agrees with each deterministic metric (a metric counts as
    "good" at 1.0); unparseable verdicts (judge_verdict == "unparseable") are skipped and counted."""
    labels = [None if r.get("judge_verdict") == "unparseable" else r[judge] >= 0.5 for r in rows]
    table = {m: agreement(labels, [r[m] >= 1.0 for r in rows]) for m in metrics}
    return pd.DataFrame(table).T
