"""Notebook 07: the study's table and figures, built only from each scenario's recorded results
(`outputs/<run>/<sN>/results.json`, written by 06) — nothing is recomputed here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tft_utils.core.io import DataError, write_text
from tft_utils.evaluate.results import ScenarioResults
from tft_utils.report.model_card import base_model_id
from tft_utils.resources import resource

SCENARIO_NAMES = {
    "s1": "S1 Baseline",
    "s2": "S2 Noisy Labels",
    "s3": "S3 Schema Drift",
    "s4": "S4 Low Data",
    "s5": "S5 Trace Mixing",
}


def published_scores(scenario: str) -> pd.Series:
    """The published LLM-judge scores of one scenario (display name), by pipeline (TFT, Direct)."""
    pub = published_results()
    return pub[(pub.scenario == scenario) & (pub.metric == "llm_as_a_judge")].set_index("pipeline")["score"]


def published_results() -> pd.DataFrame:
    """The published numbers (distil-labs/distil-tft-benchmarking), carried in tft_utils/resources."""
    with resource("published_results.csv").open() as f:
        return pd.DataFrame(list(csv.DictReader(f))).astype({"score": float})


def load_results(run_dir: str | Path, scenarios) -> dict[str, ScenarioResults]:
    """{scenario: its results.json, read and checked through the schema}."""
    out = {}
    for s in scenarios:
        path = Path(run_dir) / s / "results.json"
        if path.exists():
            out[s] = ScenarioResults.read(path)
    if not out:
        raise DataError(f"{run_dir}: no <scenario>/results.json yet; run stage 06 first")
    return out


def seeds_per_arm(r: ScenarioResults, metric: str = "llm_as_a_judge") -> dict:
    """{arm: number of training seeds} of one scenario's results (trained arms only)."""
    return r.arm_seeds(metric)


def interval_covers(r: ScenarioResults, metric: str = "llm_as_a_judge") -> str:
    n = seeds_per_arm(r, metric)
    return "test sampling + training seeds" if any(v > 1 for v in n.values()) else "test sampling only"


def _name_key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def published_teachers() -> dict[str, float]:
    """{model: score} of the frontier models the publishers scored on the same test set."""
    pub = published_results()
    rows = pub[(pub.pipeline == "teacher") & (pub.metric == "llm_as_a_judge")]
    return {
        s.removeprefix("teacher ").strip(): float(v) for s, v in zip(rows.scenario, rows.score, strict=True)
    }


def published_teacher_score(endpoint: str | None) -> float | None:
    """The published score of the model an endpoint name names (glm-5 -> GLM-5's 0.835), if scored."""
    if not endpoint:
        return None
    key = _name_key(endpoint)
    hits = [v for name, v in published_teachers().items() if _name_key(name) and _name_key(name) in key]
    return hits[0] if len(hits) == 1 else None


def study_table(results: dict, metric: str = "llm_as_a_judge") -> pd.DataFrame:
    """Per scenario: ours (TFT, Direct, Δ with its paired interval, its verdict and the smallest Δ this
    sample detects, seeds per arm, what the intervals cover, seed spread) beside the published. When the
    teacher is an endpoint (notebook 06's `teacher` arm), its score on the same pairs sits beside the
    students' (`teacher`, `teacher_ci`, `teacher_model`: the endpoint's name in params, and
    `published_teacher` when the publishers scored that model)."""
    rows = []
    for s, r in results.items():
        m = r.metrics
        row = {"scenario": SCENARIO_NAMES[s]}
        for arm in ("tft", "direct", "base", "teacher"):
            if arm in m:
                row[arm] = m[arm][metric].mean
                row[f"{arm}_ci"] = f"[{m[arm][metric].ci_low:.3f}, {m[arm][metric].ci_high:.3f}]"
        if "teacher" in m:
            row["teacher_model"] = (r.roles or {}).get("teacher")
            published = published_teacher_score(row["teacher_model"])
            if published is not None and metric == "llm_as_a_judge":
                row["published_teacher"] = published
        d = r.paired.get(metric)
        if d:
            row.update(
                delta=d.diff,
                delta_ci=f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}]",
                verdict=d.verdict,
                min_detectable=d.min_detectable_diff,
                p_not_better=d.p_not_better,
                t_delta_ci=f"[{d.t_ci_low:+.3f}, {d.t_ci_high:+.3f}]",
                t_verdict=d.t_verdict,
                t_min_detectable=d.t_min_detectable_diff,
                seed_df=np.nan if d.seed_df is None else d.seed_df,
                delta_seed_sd=np.nan if d.seed_sd is None else d.seed_sd,  # of TFT seed i - Direct seed i
            )
        n = seeds_per_arm(r, metric)
        row["seeds"] = " / ".join(f"{arm} {k}" for arm, k in n.items())
        row["ci_covers"] = interval_covers(r, metric)
        for arm in ("tft", "direct"):  # each arm's spread of seed means; one seed: none measured
            sd = m[arm][metric].seed_sd if metric in m.get(arm, {}) else None
            row[f"{arm}_seed_sd"] = np.nan if sd is None else sd
        p = published_scores(SCENARIO_NAMES[s])
        if len(p) == 2:
            row.update(
                published_tft=p["TFT"], published_direct=p["Direct"], published_delta=p["TFT"] - p["Direct"]
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")


def _cell(row: pd.Series, col: str, spec: str = ".3f", ci: str | None = None) -> str:
    """'0.668 [0.622, 0.714]': a value with its interval, '' when the column is absent or empty."""
    v = row.get(col)
    if v is None or pd.isna(v):
        return ""
    text = format(v, spec) if isinstance(v, (int, float)) else str(v)
    return f"{text} {row[ci]}" if ci and isinstance(row.get(ci), str) else text


def table_display(table: pd.DataFrame) -> pd.DataFrame:
    """The study's table for reading: one cell per score with its interval, the published trio in one
    column, so that it fits a page (18 columns did not: a browser cut the published ones off).
    `table.csv` keeps every column separate for machines."""
    out = pd.DataFrame(index=table.index)
    for arm, name in (("tft", "TFT"), ("direct", "Direct"), ("base", "base"), ("teacher", "teacher")):
        if arm in table:
            out[name] = [_cell(r, arm, ci=f"{arm}_ci") for _, r in table.iterrows()]
    if "delta" in table:
        out["Δ = TFT − Direct [95% CI]"] = [
            _cell(r, "delta", "+.3f", "delta_ci") for _, r in table.iterrows()
        ]
        out["verdict"] = table["verdict"]
        out["min. detectable Δ"] = [_cell(r, "min_detectable") for _, r in table.iterrows()]
        out["Δ's CI with few seeds (t): verdict"] = [
            f"{r['t_delta_ci']}: {r['t_verdict']}" if isinstance(r.get("t_delta_ci"), str) else ""
            for _, r in table.iterrows()
        ]
    out["seeds per arm (sd of seed means)"] = [_seeds_cell(r) for _, r in table.iterrows()]
    if "published_delta" in table:
        out["published TFT / Direct / Δ"] = [
            f"{r['published_tft']:.3f} / {r['published_direct']:.3f} / {r['published_delta']:+.3f}"
            if pd.notna(r.get("published_delta"))
            else ""
            for _, r in table.iterrows()
        ]
    return out


def _seeds_cell(row: pd.Series) -> str:
    """'tft 2 (sd 0.018) / direct 2 (sd 0.024)': each arm's seeds and the sd of its seed means."""
    cells = []
    for part in str(row["seeds"]).split(" / "):
        arm = part.split(" ")[0]
        sd = row.get(f"{arm}_seed_sd")
        cells.append(f"{part} (sd {sd:.3f})" if sd is not None and pd.notna(sd) else part)
    return " / ".join(cells)


def table_markdown(table: pd.DataFrame) -> str:
    return _plain_markdown(table_display(table))


def interval_text(results: dict, metric: str = "llm_as_a_judge") -> str:
    """Plain words under the table: what the intervals cover (test sampling only when each arm has one
    seed), what the verdict and the detectable difference mean."""
    covers = {s: interval_covers(r, metric) for s, r in results.items()}
    one = [SCENARIO_NAMES[s] for s, c in covers.items() if c == "test sampling only"]
    if len(one) == len(covers):
        lines = [
            "**This run cannot tell TFT and Direct apart.** Each arm was trained with one seed, so the "
            "intervals cover test sampling only and leave out how much the training seed moves a score, which "
            "at this budget can exceed many Δs: read its verdicts as a walk through the workflow, not as "
            "findings. Train several seeds per arm (profile `cpu`, or `tft run --seeds 0,1,2`) to include it."
        ]
    elif not one:
        lines = [
            "The 95% intervals resample the test conversations and, independently per arm, the arm's training "
            "seeds (two-level bootstrap); each arm's score is its mean over seeds."
        ]
    else:
        lines = [
            "The 95% intervals resample the test conversations and each arm's training seeds, except in "
            f"{', '.join(one)}, where each arm has one seed: **there they cover test sampling only**."
        ]
    lines.append(
        "Δ = TFT − Direct, paired on the same test pairs; **verdict**: TFT ahead / behind when Δ's interval "
        "lies above / below 0, else no difference detected; **min. detectable Δ**: the smallest Δ this sample "
        "detects with 80% power, ≈ 1.43 × the half-width of Δ's interval."
    )
    if len(one) < len(covers):
        lines.append(few_seeds_text(results, metric))
    return "\n\n".join(lines)


def few_seeds_text(results: dict, metric: str = "llm_as_a_judge") -> str:
    """What the t column says: a bootstrap over two or three seeds sees only a few mixes of them and
    underestimates how far the seed moves a score; the t interval counts the seeds' spread (less the
    test-pair noise in it) on their own degrees of freedom. Names the scenarios whose verdict it keeps."""
    kept, lost = [], []
    for s, r in results.items():
        d = r.paired.get(metric)
        if d is not None and d.verdict != "no difference detected":
            (kept if d.t_verdict == d.verdict else lost).append(SCENARIO_NAMES[s])
    seeds = sorted(
        {n for r in results.values() for a, n in r.interval.seeds_per_arm.items() if a in ("tft", "direct")}
    )
    text = (
        "**With few seeds (t)**: a bootstrap over "
        + " or ".join(map(str, seeds))
        + " seeds per arm sees only a few mixes of them (two seeds: three) and underestimates how far the "
        "training seed moves a score: on simulated studies of this test set with two seeds per arm whose "
        "means lie 0.02-0.07 apart (sd), it called a true Δ of 0 ahead or behind in 7-25% of them, not 5% "
        "(`scripts/bench_coverage.py`). The t interval "
        "widens the conversation bootstrap of the seed-averaged Δ by the seeds' own spread, less the "
        "test-pair noise in it, with Student's t on the seeds' degrees of freedom (two seeds per arm: 1, "
        "t = 12.7; three: 2, t = 4.3): 2-4% such errors in the same simulation, but wide when seeds "
        "disagree."
    )
    if kept or lost:
        text += (
            f" Verdicts it keeps: {', '.join(kept) or 'none'}; verdicts that rest on the seeds being few: "
            f"{', '.join(lost) or 'none'} (a third seed per arm narrows it most)."
        )
    return text


def teacher_text(results: dict, metric: str = "llm_as_a_judge") -> str:
    """A line under the table when an endpoint model was scored as the teacher arm: what it is, and the
    frontier models the publishers scored on the same test set (their teacher table). Empty otherwise."""
    models = sorted({str((r.roles or {}).get("teacher")) for r in results.values() if "teacher" in r.metrics})
    if not models:
        return ""
    published = ", ".join(f"{k} {v:.3f}" for k, v in published_teachers().items())
    return (
        f"**teacher**: the endpoint model `{'`, `'.join(models)}` (roles.teacher) asked the same test turns as "
        f"the students and scored the same way ({metric}), the ceiling they are distilled towards. "
        f"Published frontier models on the publishers' test set (llm_as_a_judge): {published}."
    )


def _plain_markdown(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join([str(i)] + ["" if pd.isna(v) else str(v) for v in row]) + " |"
        for i, row in zip(df.index, df.itertuples(index=False), strict=True)
    ]
    return "\n".join(lines)


def frame_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A table for reading: every cell whole (pandas' HTML cuts text at 50 characters, which hid the
    machine a student trained on), no 0, 1, 2 row numbers, floats rounded to `digits` places."""
    if df.empty:
        return ""
    if isinstance(df.index, pd.RangeIndex):
        df = df.set_index(df.columns[0])
    return _plain_markdown(df.map(lambda v: round(v, digits) if isinstance(v, float) else v))


def plot_arms(results: dict, metric: str = "llm_as_a_judge"):
    """Grouped bars: base, Direct, TFT (and the endpoint teacher, when scored) per scenario, with their 95%
    intervals."""
    arms = [a for a in ("base", "direct", "tft", "teacher") if any(a in r.metrics for r in results.values())]
    x = np.arange(len(results))
    width = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(10, 4))
    for k, arm in enumerate(arms):
        cells = [r.metrics.get(arm, {}).get(metric) for r in results.values()]
        mean = [c.mean if c else np.nan for c in cells]
        lo = [c.ci_low if c else np.nan for c in cells]
        hi = [c.ci_high if c else np.nan for c in cells]
        err = np.array([np.subtract(mean, lo), np.subtract(hi, mean)])
        ax.bar(x + (k - (len(arms) - 1) / 2) * width, mean, width, yerr=err, capsize=3, label=arm)
    ax.set_xticks(x, [SCENARIO_NAMES[s] for s in results], rotation=15)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.legend()
    over = "test conversations"
    if any(interval_covers(r, metric) != "test sampling only" for r in results.values()):
        over += " and training seeds"
    ax.set_title(f"{metric} per scenario (95% bootstrap interval over {over})")
    fig.tight_layout()
    return fig


def _errors(table: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Δ's distance to each end of the interval `column` holds as "[low, high]" (errorbar's yerr)."""
    ends = table[column].map(lambda s: [float(v) for v in s.strip("[]").split(",")])
    return table["delta"] - ends.map(lambda e: e[0]), ends.map(lambda e: e[1]) - table["delta"]


def plot_deltas(table: pd.DataFrame):
    """TFT − Direct per scenario: ours with its paired interval, beside the published difference."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(table))
    if "delta" in table:
        lo, hi = _errors(table, "delta_ci")
        ax.errorbar(x - 0.1, table["delta"], yerr=[lo, hi], fmt="o", capsize=4, label="ours (paired 95% CI)")
    if "published_delta" in table:
        ax.plot(x + 0.1, table["published_delta"], "s", label="published (Qwen3-1.7B)")
    if "t_delta_ci" in table:  # the same Δ, its interval widened for few seeds
        lo, hi = _errors(table, "t_delta_ci")
        ax.errorbar(
            x - 0.2,
            table["delta"],
            yerr=[lo, hi],
            fmt="none",
            capsize=2,
            lw=0.8,
            color="C0",
            alpha=0.5,
            label="ours, with few seeds (t)",
        )
    if "delta_seed_sd" in table:  # a band per scenario: fill_between over one x value draws nothing
        sd = table["delta_seed_sd"].fillna(0).to_numpy()
        ax.bar(
            x,
            4 * sd,
            bottom=-2 * sd,
            width=0.5,
            color="grey",
            alpha=0.2,
            label="±2 sd of Δ between seed pairs",
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlim(-0.6, len(table) - 0.4)
    ax.set_xticks(x, table.index, rotation=15)
    ax.set_ylabel("TFT − Direct")
    ax.legend()
    fig.tight_layout()
    return fig


def per_function_table(results: dict, metric: str = "llm_as_a_judge") -> pd.DataFrame:
    rows = []
    for s, r in results.items():
        for arm, funcs in r.per_function.items():
            for fn, scores in funcs.items():
                rows.append({"scenario": s, "arm": arm, "function": fn, metric: scores.get(metric)})
    return pd.DataFrame(rows)


def plot_per_function(results: dict, metric: str = "llm_as_a_judge"):
    import seaborn as sns

    df = per_function_table(results, metric)
    g = sns.catplot(df, x="scenario", y=metric, hue="arm", col="function", kind="bar", height=3.2, aspect=1.1)
    g.set(ylim=(0, 1))
    return g.figure


def service_calls_text(results: dict) -> str:
    """The service-call pairs (FindRestaurants / ReserveRestaurant) each arm judged good and got exact,
    per training seed, as a table with one sentence on what it counts ('' for results written before
    06 recorded them)."""
    rows = []
    for s, r in results.items():
        for arm, runs in r.service_calls.items():
            if not runs:
                continue
            row = {"scenario": SCENARIO_NAMES.get(s, s), "arm": arm, "of": runs[0]["calls"]}
            for key in ("judged_good", "right_function", "exact", "replies_called"):
                row[key.replace("_", " ")] = " / ".join(str(c[key]) for c in runs)
            rows.append(row)
    if not rows:
        return ""
    return (
        "**Service calls**: of the test pairs whose gold answer is a service call (`of`), how many each "
        "model answers with a call the judge calls good, with the right function, and exactly right; "
        "`replies called`: reply pairs answered with a service call instead. One figure per training seed "
        "(in the order of the run's seeds, e.g. 0 / 1).\n\n" + frame_markdown(pd.DataFrame(rows))
    )


def stage_effects(results: dict) -> pd.DataFrame:
    """What each TFT stage removed or fixed per corruption kind (as recorded by notebook 03)."""
    rows = []
    for s, r in results.items():
        for kind, v in (r.stages.get("per_corruption_kind") or {}).items():
            rows.append({"scenario": s, "kind": kind, **v})
    return pd.DataFrame(rows)


def setup_text(results: dict) -> str:
    """Which profile, models, judge and test set produced the table."""
    first = next(iter(results.values()))
    model = base_model_id(first.student)  # the profile's alias, named: "cpu" is SmolLM2-135M-Instruct
    named = {"student": f" ({model})" if model and model != first.student else ""}
    keys = ("profile", "student", "judge", "test_set", "seeds", "roles")
    return "\n".join(f"- **{k}**: {json.dumps(getattr(first, k))}{named.get(k, '')}" for k in keys)


def write_report(
    report_dir: str | Path, table: pd.DataFrame, results: dict, metric: str = "llm_as_a_judge"
) -> dict:
    report_dir = Path(report_dir)
    write_text(report_dir / "table.csv", table.to_csv())
    md = (
        f"# TFT vs Direct\n\n{setup_text(results)}\n\n{table_markdown(table)}\n\n"
        f"{interval_text(results, metric)}\n"
    )
    teacher = teacher_text(results, metric)
    md += f"\n{teacher}\n" if teacher else ""
    write_text(report_dir / "table.md", md)
    return {"table_csv": str(report_dir / "table.csv"), "table_md": str(report_dir / "table.md")}


def save_figure(fig, path: str | Path) -> Path:
    """Save a figure as PNG atomically (the report folder holds only finished files)."""
    from tft_utils.core.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_stage_effects(effects: pd.DataFrame):
    """Per scenario and corruption kind: share of corrupted calls dropped by the filter / restored."""
    # title, axis label and ticks take ~1.6 in whatever the rows; each row then needs ~0.35 in
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.35 * max(1, len(effects))))
    if effects.empty:
        ax.text(0.5, 0.5, "no corrupted scenario recorded stage effects", ha="center", va="center")
        return fig
    cols = [c for c in ("dropped_share", "restored_share", "masked_share") if c in effects]
    effects.set_index(effects["scenario"] + " " + effects["kind"])[cols].plot.barh(ax=ax, stacked=True)
    ax.set_xlabel("share of the kind's assistant turns ('clean': turns no corruption touched)")
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_title("What TFT's cleaning did with each kind of noise")
    fig.tight_layout()
    return fig


def export_html(notebook: str | Path, out: str | Path) -> Path:
    """The executed report notebook as a standalone HTML page for a reader: code cells and the
    In/Out prompts hidden."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_filename(str(notebook))
    return write_text(out, body)
