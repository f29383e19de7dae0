"""TFT − Direct of a carried study (`tft carry save`), recomputed from its predictions by today's scoring
and statistics: each scenario's paired bootstrap interval and verdict beside the interval widened for few
seeds (`stats.t_interval`) and its verdict. For runs whose predictions today's code would not accept as
current (carried before a change of the prediction code's fingerprint), so notebook 06 cannot rescore them.

    .venv/bin/python scripts/verdicts_carried.py docs/runs/study-zen5 [--metric llm_as_a_judge]
    .venv/bin/python scripts/verdicts_carried.py docs/runs/study-zen5 outputs/seed2  # a third seed beside them
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tft_utils.core.io import numbered_jsonl
from tft_utils.core.params import load_params, seed_of
from tft_utils.evaluate.score import score_rows
from tft_utils.evaluate.stats import paired_seeds


def scored(path: Path, params: dict) -> list[dict]:
    numbered = list(numbered_jsonl(path))
    rows = [row for _, row in numbered]
    return score_rows(rows, "rubric", params, source=str(path), lines=[n for n, _ in numbered])


def prediction_files(folders: list[Path], scenario: str, arm: str) -> dict[int, Path]:
    """{seed: predictions file} of one arm over the folders; a seed found in two folders is an error."""
    found: dict[int, Path] = {}
    for folder in folders:
        for f in sorted((folder / scenario / "predictions").glob(f"{arm}-seed*.jsonl*")):
            m = re.fullmatch(rf"{arm}-seed(\d+)\.jsonl(\.gz)?", f.name)
            if not m:
                continue
            seed = int(m.group(1))
            if seed in found:
                sys.exit(f"{f}: {scenario} {arm} seed {seed} is also in {found[seed]}; give each seed once")
            found[seed] = f
    return dict(sorted(found.items()))


def same_pairs(runs: dict[Path, list[dict]]) -> None:
    """Seeds are paired pair by pair (by position): every file must hold the same test pairs in one order."""
    (first, rows), *rest = runs.items()
    key = [(r.get("dialogue_id"), r.get("turn"), r.get("answer")) for r in rows]
    for path, other in rest:
        if [(r.get("dialogue_id"), r.get("turn"), r.get("answer")) for r in other] != key:
            sys.exit(f"{path}: not the test pairs of {first} (another test set or order); cannot pair them")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "folders",
        nargs="+",
        type=Path,
        help="a carried study (docs/runs/study-zen5) or run folder (outputs/<run>); several: their seeds together",
    )
    ap.add_argument("--metric", default="llm_as_a_judge")
    args = ap.parse_args(argv)
    params = load_params("cpu")
    ev = params["evaluate"]
    scenarios = sorted(
        {p.name for f in args.folders if f.is_dir() for p in f.iterdir() if re.fullmatch(r"s\d", p.name)}
    )
    if not scenarios:
        sys.exit(f"{', '.join(map(str, args.folders))}: no scenario folders (s1..s5) with predictions")
    print(
        f"{' + '.join(map(str, args.folders))}, {args.metric}, rubric judge, {ev['bootstrap_samples']} resamples, "
        f"{ev['ci']:.0%} intervals"
    )
    print(
        "| scenario | seeds TFT / Direct | seed means TFT / Direct | Δ | bootstrap CI | verdict | t CI (df) | t verdict |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in scenarios:
        files = {arm: prediction_files(args.folders, s, arm) for arm in ("tft", "direct")}
        if not files["tft"] or not files["direct"]:
            print(f"| {s} | (no TFT or Direct predictions) | | | | | | |")
            continue
        scored_files = {f: scored(f, params) for arm in files for f in files[arm].values()}
        same_pairs(scored_files)
        runs = {arm: [scored_files[f] for f in files[arm].values()] for arm in files}
        means = {
            arm: ", ".join(f"{sum(r[args.metric] for r in rows) / len(rows):.3f}" for rows in runs[arm])
            for arm in runs
        }
        d = paired_seeds(
            runs["tft"],
            runs["direct"],
            args.metric,
            ev["bootstrap_samples"],
            seed_of(params, "evaluate"),
            ev["ci"],
            "TFT",
        )
        df = "-" if d["seed_df"] is None else f"{d['seed_df']:.1f}"
        seeds = {arm: ",".join(map(str, files[arm])) for arm in files}
        print(
            f"| {s} | {seeds['tft']} / {seeds['direct']} | {means['tft']} / {means['direct']} | {d['diff']:+.3f} "
            f"| [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] | {d['verdict']} "
            f"| [{d['t_ci_low']:+.3f}, {d['t_ci_high']:+.3f}] ({df}) | {d['t_verdict']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
