"""TFT − Direct of a carried study (`tft carry save`), recomputed from its predictions by today's scoring
and statistics: each scenario's paired bootstrap interval and verdict beside the interval widened for few
seeds (`stats.t_interval`) and its verdict. For runs whose predictions today's code would not accept as
current (carried before a change of the prediction code's fingerprint), so notebook 06 cannot rescore them.

    .venv/bin/python scripts/verdicts_carried.py docs/runs/study-zen5 [--metric llm_as_a_judge]
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="a carried study, e.g. docs/runs/study-zen5")
    ap.add_argument("--metric", default="llm_as_a_judge")
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    params = load_params("cpu")
    ev = params["evaluate"]
    scenarios = sorted(p.name for p in folder.iterdir() if re.fullmatch(r"s\d", p.name))
    if not scenarios:
        sys.exit(f"{folder}: no scenario folders (s1..s5) with carried predictions")
    print(
        f"{folder}, {args.metric}, rubric judge, {ev['bootstrap_samples']} resamples, {ev['ci']:.0%} intervals"
    )
    print("| scenario | seeds TFT / Direct | Δ | bootstrap CI | verdict | t CI (df) | t verdict |")
    print("|---|---|---|---|---|---|---|")
    for s in scenarios:
        runs = {}
        for arm in ("tft", "direct"):
            files = sorted((folder / s / "predictions").glob(f"{arm}-seed*.jsonl*"))
            files = [f for f in files if not f.name.endswith(".fingerprint.json")]
            runs[arm] = [scored(f, params) for f in files]
        if not runs["tft"] or not runs["direct"]:
            print(f"| {s} | (no TFT or Direct predictions) | | | | | |")
            continue
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
        print(
            f"| {s} | {d['seeds_a']} / {d['seeds_b']} | {d['diff']:+.3f} | [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] "
            f"| {d['verdict']} | [{d['t_ci_low']:+.3f}, {d['t_ci_high']:+.3f}] ({df}) | {d['t_verdict']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
