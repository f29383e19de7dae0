"""How often the study's intervals call a difference that is not there (issue 11 item 6).

Simulates many studies on the real test set's shape (its conversations and their pair counts) where TFT
and Direct are equally good by construction, runs the study's own `paired_seeds` on each, and prints the
share of studies whose verdict is "TFT ahead" or "behind" (should be ~5% at 95%) for the two-level
bootstrap (`verdict`) and the interval widened for few seeds (`t_verdict`), with their mean widths.

The model of a score, per test pair p of conversation c, arm a, training seed s (binary, like the judge):

    good = 0.6 + u_c + e_p + w_{a,p} + shift_{a,s} + noise_{a,s,p} > 0
    u_c ~ N(0, 0.5)        how hard the conversation is (shared by every model)
    e_p ~ N(0, 1)          how hard the pair is
    w_{a,p} ~ N(0, 0.6)    what an arm's data teaches about that pair (fixed over seeds)
    shift_{a,s} ~ N(0, SD) how much better or worse a training seed makes the whole model (the seed effect)
    noise ~ N(0, 0.7)      where a seed errs on its own (two seeds of one arm agree on ~85% of pairs,
                           as the study's students do)

SD is varied: at 0 the seeds differ only pair by pair; at 0.4 one arm's two seed means lie ~0.07-0.12
apart, as S5 Direct's did on the Zen 5 study (0.275 / 0.464). Each line also prints the median sd of one
arm's seed means, to place the study's own (results.json `metrics.<arm>.<metric>.seed_sd`).

    .venv/bin/python scripts/bench_coverage.py --pairs outputs/default/data/test_pairs.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tft_utils.core.io import iter_jsonl
from tft_utils.evaluate.stats import conversation_key, paired_seeds


def simulate(rng, conv: np.ndarray, n_seeds: int, seed_sd: float) -> tuple[list[np.ndarray], float]:
    """Both arms' (seeds x pairs) binary scores under the model above, and one arm's seed-mean sd."""
    n_conv, n_pairs = int(conv.max()) + 1, len(conv)
    shared = 0.6 + rng.normal(0, 0.5, n_conv)[conv] + rng.normal(0, 1.0, n_pairs)
    arms = []
    for _ in range(2):
        taught = shared + rng.normal(0, 0.6, n_pairs)
        seeds = [taught + rng.normal(0, seed_sd) + rng.normal(0, 0.7, n_pairs) > 0 for _ in range(n_seeds)]
        arms.append(np.array(seeds, dtype=float))
    sd = float(np.std(arms[0].mean(1), ddof=1)) if n_seeds > 1 else float("nan")
    return arms, sd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--pairs", default="outputs/default/data/test_pairs.jsonl", help="test_pairs.jsonl (tft data)"
    )
    ap.add_argument("--studies", type=int, default=1000, help="simulated studies per line")
    ap.add_argument("--samples", type=int, default=2000, help="bootstrap resamples (params evaluate)")
    ap.add_argument("--seeds", default="2,3", help="training seeds per arm, one block each")
    ap.add_argument("--seed-sds", default="0,0.1,0.2,0.4", help="the seed effect's sd (SD above)")
    args = ap.parse_args(argv)
    pairs = Path(args.pairs)
    if not pairs.is_file():
        sys.exit(f"{pairs}: no such file; make one with `tft data --out DIR` (or run stage 01) and pass it")
    rows = [{"dialogue_id": conversation_key(r), "turn": i} for i, r in enumerate(iter_jsonl(pairs))]
    _, conv = np.unique([r["dialogue_id"] for r in rows], return_inverse=True)
    keyed = [{**r, "question": "", "answer": ""} for r in rows]  # what pair_key reads
    print(
        f"{pairs}: {len(rows)} pairs in {conv.max() + 1} conversations; {args.studies} studies a line, "
        f"{args.samples} resamples, true difference 0"
    )
    print("seeds/arm  seed SD  arm seed-mean sd  bootstrap: wrong verdicts  width   t: wrong verdicts  width")
    for n_seeds in (int(x) for x in args.seeds.split(",")):
        for seed_sd in (float(x) for x in args.seed_sds.split(",")):
            rng = np.random.default_rng(12345)
            wrong, t_wrong, width, t_width, sds = 0, 0, 0.0, 0.0, []
            start = time.time()
            for k in range(args.studies):
                (a, b), sd = simulate(rng, conv, n_seeds, seed_sd)
                runs = [
                    [[{**r, "m": v} for r, v in zip(keyed, s, strict=True)] for s in arm] for arm in (a, b)
                ]
                d = paired_seeds(runs[0], runs[1], "m", args.samples, seed=k, name_a="TFT")
                wrong += d["verdict"] != "no difference detected"
                t_wrong += d["t_verdict"] != "no difference detected"
                width += d["ci_high"] - d["ci_low"]
                t_width += d["t_ci_high"] - d["t_ci_low"]
                sds.append(sd)
            n = args.studies
            print(
                f"{n_seeds:9d}  {seed_sd:7.2f}  {np.nanmedian(sds):16.3f}  {wrong / n:24.3f}  {width / n:.3f}"
                f"  {t_wrong / n:17.3f}  {t_width / n:.3f}   ({time.time() - start:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
