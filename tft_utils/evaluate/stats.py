"""Statistics that respect the data (STUDY §8): the 360 test pairs come from 34 conversations, so
every interval resamples whole conversations, not pairs (pairs of one conversation are correlated).

- `bootstrap_mean`: mean and percentile interval, resampling conversations with replacement (seeded);
  each replicate's mean is over the pairs of the drawn conversations.
- `summary_table`: that for every metric; `per_function`: scores by gold function;
  `confusion_matrix`: gold function x predicted function.
- `paired_comparison`: model A - model B on the same pairs, the interval from resampling conversations.
- `bootstrap_seeds` / `paired_seeds`: the same with several training seeds per model (a two-level
  bootstrap: conversations, and independently each model's seeds, drawn with replacement in every
  replicate); with one seed per model they give exactly `bootstrap_mean` / `paired_comparison`.
- `seed_term` / `t_interval`: the same intervals widened for few seeds (Student's t on the seeds' own
  degrees of freedom): with two seeds the bootstrap sees three mixes of them and underestimates how far
  the seed moves a score; `scripts/bench_coverage.py` measures both on simulated studies.
- `verdict` and `min_detectable_difference`: what a paired interval says, and the smallest difference
  this sample could have detected.
- `agreement`: how often two binary labelings agree, with Cohen's kappa (judge vs metric, rubric vs LLM).
"""

from __future__ import annotations

import hashlib
import json
from statistics import NormalDist

import numpy as np
import pandas as pd

from tft_utils.domain.calls import parse_tool_call

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


def _percentiles(reps: np.ndarray, ci: float) -> tuple[float, float]:
    """The `ci` percentile interval of bootstrap replicates."""
    lo, hi = np.quantile(reps, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(lo), float(hi)


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
    lo, hi = _percentiles(reps, ci)
    return {
        "mean": float(values.mean()),
        "ci_low": lo,
        "ci_high": hi,
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
    conversation-bootstrap interval and the share of replicates where A does not beat B
    (`paired_seeds` with one seed per model; see there for the recorded fields)."""
    return paired_seeds([rows_a], [rows_b], metric, n_samples, seed, ci)


# ---------------------------------------------------------------------------------------------------
# Several training seeds per model: a two-level bootstrap over test conversations and training seeds.

ONE_SEED = "test conversations"
SEEDS_TOO = "test conversations and training seeds"


def pair_key(row: dict) -> tuple:
    """One evaluation pair: its conversation, turn, question and answer."""
    return (conversation_key(row), row.get("turn"), row["question"], row["answer"])


def seed_matrix(runs: list[list[dict]], metric: str) -> tuple[np.ndarray, list[dict]]:
    """One model's scores as a (seeds x pairs) array, with the first run's rows (the pairs, in order).
    Every run (one per training seed) must score the same pairs in the same order."""
    if not runs:
        raise ValueError("seed_matrix: no runs")
    keys = [pair_key(r) for r in runs[0]]
    for k, rows in enumerate(runs[1:], 1):
        if [pair_key(r) for r in rows] != keys:
            raise ValueError(
                f"seed_matrix: run {k} does not score the same pairs, in the same order, as run 0"
            )
    values = np.array([[r[metric] for r in rows] for rows in runs], dtype=float)
    bad = np.argwhere(np.isnan(values))
    if bad.size:  # one NaN would make every mean, interval and verdict NaN ("no difference") silently
        k, i = bad[0]
        row = runs[k][i]
        raise ValueError(
            f"seed_matrix: {metric} is not a number in run {k}, pair {i} (dialogue {row.get('dialogue_id')}, "
            f"turn {row.get('turn')}); {len(bad)} such score(s) in all: rescore the predictions"
        )
    return values.reshape(len(runs), len(keys)), runs[0]


def seed_term(values: np.ndarray, gidx: np.ndarray, n_groups: int) -> tuple[float, int | None]:
    """How far one model's training seed moves its mean score, as (variance of the seed-averaged mean,
    degrees of freedom); (0.0, None) with one seed (nothing measured).

    `values`: (seeds x pairs). The seeds' means spread for two reasons: the seed changes the model (what
    we want), and each model errs on other test pairs (test-pair noise, already in the conversation
    bootstrap of the seed-averaged scores). The second part is estimated from the residuals
    r[s, p] = values[s, p] - pair mean - (seed mean - grand mean), summed per conversation (pairs of one
    conversation err together):

        noise  = sum over seeds and conversations of r_sum^2 / ((seeds - 1) * pairs^2)
        seed variance = max(0, sd(seed means)^2 - noise);   returned: seed variance / seeds, seeds - 1
    """
    n, n_pairs = values.shape
    if n < 2:
        return 0.0, None
    means = values.mean(1)
    dev = means - means.mean()
    resid = values - values.mean(0) - dev[:, None]
    per_conv = np.stack([np.bincount(gidx, weights=r, minlength=n_groups) for r in resid])
    noise = float((per_conv**2).sum() / ((n - 1) * n_pairs**2))
    return max(0.0, float(np.var(means, ddof=1)) - noise) / n, n - 1


def t_interval(
    estimate: float,
    ci_low: float,
    ci_high: float,
    terms: list[tuple[float, int | None]],
    ci: float = 0.95,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> tuple[float, float, float | None]:
    """A conversation-bootstrap interval (the seed-averaged scores' `ci_low`, `ci_high`) widened by the
    seeds' variance `terms` ([(variance, df)], one per model, from `seed_term`), each side in quadrature:

        low  = estimate - sqrt((estimate - ci_low)^2 + (t * se)^2),   high likewise
        se^2 = sum of the variances;  t = Student's t quantile at (1 + ci) / 2 on the Welch-Satterthwaite
        df = se^4 / sum(variance^2 / df)  (one model with 2 seeds: 1 df, t = 12.7; 3 seeds: 2 df, t = 4.3)

    Returns (low, high, df), cut to `bounds` (a mean lies within the range of the values it averages;
    1 df can reach past it); with no seed variance measured the interval is unchanged and df None."""
    parts = [(v, df) for v, df in terms if df and v > 0]
    if not parts:
        return ci_low, ci_high, None
    from scipy.stats import t  # the quantile on a fractional df; imported here, only 06 and 07 need it

    se2 = sum(v for v, _ in parts)
    df = se2**2 / sum(v**2 / d for v, d in parts)
    w = float(t.ppf((1 + ci) / 2, df)) ** 2 * se2
    low = max(bounds[0], estimate - float(np.sqrt((estimate - ci_low) ** 2 + w)))
    high = min(bounds[1], estimate + float(np.sqrt((ci_high - estimate) ** 2 + w)))
    return float(low), float(high), float(df)


def _seed_weights(rng: np.random.Generator, n_samples: int, n_seeds: int) -> np.ndarray:
    """(n_samples x n_seeds): each replicate draws `n_seeds` seeds with replacement; a seed's weight is
    how often it was drawn / n_seeds (one seed: weight 1.0 in every replicate)."""
    draws = rng.integers(0, n_seeds, size=(n_samples, n_seeds))
    return (draws[:, :, None] == np.arange(n_seeds)).sum(1) / n_seeds


def _groups(rows: list[dict]) -> tuple[np.ndarray, int]:
    _, gidx = np.unique(np.asarray([conversation_key(r) for r in rows], dtype=str), return_inverse=True)
    gidx = gidx.reshape(-1)
    return gidx, int(gidx.max()) + 1


def _sd(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def bootstrap_seeds(
    runs: list[list[dict]], metric: str, n_samples: int = 2000, seed: int = 0, ci: float = 0.95
) -> dict:
    """Mean of one model over its training seeds and test pairs, with a two-level bootstrap interval.

    `runs`: one list of scored rows per training seed, the same pairs in the same order. Each replicate
    draws the test conversations with replacement and, independently, the seeds with replacement; its
    value is the mean, over the pairs of the drawn conversations, of each pair's score averaged over the
    drawn seeds. The interval therefore covers test sampling and training-seed variance; with one seed
    it is exactly `bootstrap_mean` (same draws, same arithmetic). Also recorded: each seed's mean and
    their sample sd (None with one seed), and the interval widened for few seeds (`t_interval`: t_ci_low,
    t_ci_high, seed_df)."""
    values, rows = seed_matrix(runs, metric)
    n_seeds, n_pairs = values.shape
    per_seed = [float(v.mean()) for v in values] if n_pairs else [float("nan")] * n_seeds
    common = {
        "seeds": n_seeds,
        "per_seed": per_seed,
        "seed_sd": _sd(per_seed),
        "resampled": SEEDS_TOO if n_seeds > 1 else ONE_SEED,
    }
    if n_pairs == 0:
        nan = float("nan")
        empty = {"mean": nan, "ci_low": nan, "ci_high": nan, "n": 0, "groups": 0}
        return {**empty, **common, "t_ci_low": nan, "t_ci_high": nan, "seed_df": None}
    gidx, n_groups = _groups(rows)
    sums = np.stack([np.bincount(gidx, weights=v, minlength=n_groups) for v in values])
    counts = np.bincount(gidx).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_samples, n_groups))  # conversations (as bootstrap_mean)
    weights = _seed_weights(rng, n_samples, n_seeds)  # then seeds, from the same stream
    # replicate mean = sum over drawn conversations and drawn seeds / drawn pairs (linear in the seeds)
    reps = sum(weights[:, s] * sums[s][draws].sum(1) for s in range(n_seeds)) / counts[draws].sum(1)
    lo, hi = _percentiles(reps, ci)
    mean = float(values.mean(0).mean())
    # the t interval: the same conversations, the seed-averaged scores, widened by the seeds' variance
    c_lo, c_hi = _percentiles(sums.mean(0)[draws].sum(1) / counts[draws].sum(1), ci)
    t_lo, t_hi, df = t_interval(
        mean, c_lo, c_hi, [seed_term(values, gidx, n_groups)], ci, (values.min(), values.max())
    )
    return {
        "mean": mean,
        "ci_low": lo,
        "ci_high": hi,
        "n": int(n_pairs),
        "groups": int(n_groups),
        **common,
        "t_ci_low": t_lo,
        "t_ci_high": t_hi,
        "seed_df": df,
    }


def paired_seeds(
    runs_a: list[list[dict]],
    runs_b: list[list[dict]],
    metric: str,
    n_samples: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    name_a: str = "A",
) -> dict:
    """A - B on the pairs both scored, each model averaged over its training seeds, with a paired
    two-level bootstrap: every replicate draws the test conversations once for both models (the pairing)
    and, independently per model, that model's seeds with replacement. With one seed per model it is
    exactly the conversation bootstrap of the per-pair differences (`paired_comparison` as before).

    Recorded: diff, ci_low, ci_high, p_not_better (share of replicates where A does not beat B), pairs,
    conversations, unmatched_a/b, seeds_a/b, per_seed (A seed i - B seed i, for the seeds both have, by
    position) and its seed_sd, resampled (what the interval covers), verdict (`verdict`) and
    min_detectable_diff (`min_detectable_difference`); and the same interval widened for few seeds
    (`t_interval`: t_ci_low, t_ci_high, t_verdict, t_min_detectable_diff, seed_df: its degrees of
    freedom, None when no seed variance was measured: then it is the interval of the seed-averaged
    differences over conversations alone)."""
    va, rows_a = seed_matrix(runs_a, metric)
    vb, rows_b = seed_matrix(runs_b, metric)
    b_index = {pair_key(r): j for j, r in enumerate(rows_b)}
    ia, ib = [], []
    for i, r in enumerate(rows_a):
        j = b_index.get(pair_key(r))
        if j is not None:
            ia.append(i)
            ib.append(j)
    if not ia:
        raise ValueError("paired_comparison: the two files share no pairs")
    a, b = va[:, ia], vb[:, ib]
    (sa_n, n_pairs), sb_n = a.shape, b.shape[0]
    gidx, n_groups = _groups([rows_a[i] for i in ia])
    counts = np.bincount(gidx).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_samples, n_groups))  # the same conversations for A and B
    wa = _seed_weights(rng, n_samples, sa_n)
    wb = _seed_weights(rng, n_samples, sb_n)
    # per-pair differences of every (seed of A, seed of B) combination, summed per conversation; a
    # replicate weighs each combination by the product of its seeds' weights (one seed each: weight 1)
    num = 0.0
    for i in range(sa_n):
        for j in range(sb_n):
            sums = np.bincount(gidx, weights=a[i] - b[j], minlength=n_groups)
            num = num + (wa[:, i] * wb[:, j]) * sums[draws].sum(1)
    reps = num / counts[draws].sum(1)
    lo, hi = _percentiles(reps, ci)
    per_seed = [float(a[i].mean() - b[i].mean()) for i in range(min(sa_n, sb_n))]
    diff = float((a.mean(0) - b.mean(0)).mean())
    # the t interval: the same conversations, the seed-averaged differences, widened by both models' seeds
    sums = np.bincount(gidx, weights=a.mean(0) - b.mean(0), minlength=n_groups)
    c_lo, c_hi = _percentiles(sums[draws].sum(1) / counts[draws].sum(1), ci)
    terms = [seed_term(a, gidx, n_groups), seed_term(b, gidx, n_groups)]
    span = (a.min() - b.max(), a.max() - b.min())  # the most and least a difference of means can be
    t_lo, t_hi, df = t_interval(diff, c_lo, c_hi, terms, ci, span)
    return {
        "metric": metric,
        "diff": diff,
        "ci_low": lo,
        "ci_high": hi,
        "p_not_better": float((reps <= 0).mean()),
        "pairs": int(n_pairs),
        "conversations": int(n_groups),
        "unmatched_a": len(rows_a) - n_pairs,
        "unmatched_b": len(rows_b) - n_pairs,
        "seeds_a": sa_n,
        "seeds_b": sb_n,
        "per_seed": per_seed,
        "seed_sd": _sd(per_seed),
        "resampled": SEEDS_TOO if max(sa_n, sb_n) > 1 else ONE_SEED,
        "verdict": verdict(lo, hi, name_a),
        "min_detectable_diff": min_detectable_difference(lo, hi, ci),
        "t_ci_low": t_lo,
        "t_ci_high": t_hi,
        "t_verdict": verdict(t_lo, t_hi, name_a),
        "t_min_detectable_diff": min_detectable_difference(t_lo, t_hi, ci),
        "seed_df": df,
    }


def verdict(ci_low: float, ci_high: float, name: str = "TFT") -> str:
    """What a paired interval of `name` - other says: "<name> ahead" when it lies above 0,
    "<name> behind" when below 0, otherwise (it contains 0, or is undefined) "no difference detected"."""
    if ci_low > 0:
        return f"{name} ahead"
    if ci_high < 0:
        return f"{name} behind"
    return "no difference detected"


def min_detectable_difference(ci_low: float, ci_high: float, ci: float = 0.95, power: float = 0.8) -> float:
    """The smallest true difference this comparison detects with probability `power` (two-sided, at
    level 1 - ci), from its own interval, under a normal approximation:

        h   = (ci_high - ci_low) / 2                  the interval's half-width
        SE  = h / z_{(1+ci)/2}                        its standard error
        MDD = (z_{(1+ci)/2} + z_{power}) * SE = h * (z_{(1+ci)/2} + z_{power}) / z_{(1+ci)/2}

    With ci = 0.95 and power = 0.8: MDD = h * (1.960 + 0.842) / 1.960 ~= 1.43 h. A true difference
    smaller than that is more likely than not to be reported as "no difference detected" at this
    sample size (conversations and seeds)."""
    z_ci = NormalDist().inv_cdf((1 + ci) / 2)
    z_power = NormalDist().inv_cdf(power)
    return float((ci_high - ci_low) / 2 * (z_ci + z_power) / z_ci)


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
