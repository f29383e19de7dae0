"""Why the students' bad pairs are bad: one scenario's scored predictions, counted by arm, answer's
function, predicted function and the judge's reason (numbers folded, so "mentions 7:30 pm, a time
nobody asked for" and "... 6:00 pm ..." count together), summed over the arm's training seeds.

This is the table issue 12 item 5 asks for when TFT does not win: bad pairs by function and by kind of
error, for both arms. It reads what notebook 06 wrote (`predictions/<arm>-seed<N>.scored.jsonl`) and
changes nothing.

Usage: python scripts/why_bad.py outputs/main/s2 [--top 12]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tft_utils.core.io import read_jsonl  # noqa: E402
from tft_utils.domain.calls import parse_tool_call  # noqa: E402


def called(prediction: str) -> str:
    call = parse_tool_call(prediction)
    return call.name if call else "(unparseable)"


def tally(scored: Path) -> dict[str, Counter]:
    """{arm: Counter} of bad pairs by (answer fn, predicted fn, folded reason), and good ones by fn."""
    out: dict[str, Counter] = {}
    for path in sorted(scored.glob("*-seed*.scored.jsonl")):
        arm = path.name.split("-seed")[0]
        c = out.setdefault(arm, Counter())
        for r in read_jsonl(path):
            answer = json.loads(r["answer"])["name"]
            c[("pairs", answer)] += 1
            if r["judge_verdict"] == "good":
                c[("good", answer)] += 1
                continue
            reason = re.sub(r"\d+", "N", r["judge_reason"])
            c[("bad", answer, called(r["prediction"]), reason)] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario_dir", type=Path, help="outputs/<run>/<scenario>")
    ap.add_argument("--top", type=int, default=12, help="reasons listed per arm")
    args = ap.parse_args()
    pred = args.scenario_dir / "predictions"
    if not pred.is_dir():
        sys.exit(f"{pred}: no predictions folder (run notebook 06 for this scenario first)")
    arms = tally(pred)
    if not arms:
        sys.exit(f"{pred}: no scored predictions (*-seed*.scored.jsonl)")
    for arm, c in arms.items():
        seeds = len(list(pred.glob(f"{arm}-seed*.scored.jsonl")))
        print(f"\n{arm} ({seeds} seed{'s' * (seeds > 1)}; counts summed over seeds)")
        for fn in sorted(k[1] for k in c if k[0] == "pairs"):
            print(f"  {fn:20s} judged good {c[('good', fn)]:4d} of {c[('pairs', fn)]}")
        bad = Counter({k: v for k, v in c.items() if k[0] == "bad"})
        print(f"  bad pairs: {sum(bad.values())}; by answer -> prediction, reason:")
        for (_, answer, pred_fn, reason), n in bad.most_common(args.top):
            print(f"  {n:4d}  {answer} -> {pred_fn}: {reason[:90]}")


if __name__ == "__main__":
    main()
