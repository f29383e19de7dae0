"""Why the students' bad pairs are bad: one scenario's scored predictions, counted by arm, answer's
function, predicted function and the judge's reason (numbers folded, so "mentions 7:30 pm, a time
nobody asked for" and "... 6:00 pm ..." count together), summed over the arm's training seeds.

This is the table issue 12 item 5 asks for when TFT does not win: bad pairs by function and by kind of
error, for both arms. It reads what notebook 06 wrote (`predictions/<arm>-seed<N>.scored.jsonl`) and
changes nothing.

It also counts, for the TFT arm, the test searches it missed by whether the user had said the search's
city and cuisine word for word, and what the synthetic set's assistant does once both were said.

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
from tft_utils.domain.calls import parse_tool_call, read_call  # noqa: E402


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


def said_both(messages: list[dict], call: dict) -> bool:
    """The user has said the search's city and cuisine word for word (case aside) before this turn."""
    said = " ".join((m.get("content") or "").lower() for m in messages if m["role"] == "user")
    args = call["parameters"]
    return all(str(args.get(k, "")).lower() in said for k in ("city", "cuisine"))


def search_misses(pred: Path, arm: str = "tft") -> Counter:
    """Test searches (`FindRestaurants` answers) by whether the user said city and cuisine literally and
    whether the arm searched, summed over its seeds."""
    c: Counter = Counter()
    for path in sorted(pred.glob(f"{arm}-seed*.scored.jsonl")):
        for r in read_jsonl(path):
            answer = json.loads(r["answer"])
            if answer["name"] == "FindRestaurants":
                lit = "literal" if said_both(json.loads(r["question"]), answer) else "paraphrased"
                c[(lit, "searched" if called(r["prediction"]) == "FindRestaurants" else "did not")] += 1
    return c


def synthetic_first_searches(synthetic: Path) -> Counter:
    """In a synthetic set: each assistant turn before the first search, taken after the user has said
    that search's city and cuisine literally, by what the assistant did."""
    c: Counter = Counter()
    for conv in read_jsonl(synthetic):
        msgs = conv["messages"]
        turns = [(i, read_call(m)) for i, m in enumerate(msgs) if m["role"] == "assistant"]
        first = next((call for _, call in turns if call and call["name"] == "FindRestaurants"), None)
        if first is None:
            continue
        search = {"parameters": first["arguments"]}
        for i, call in turns:
            if said_both(msgs[:i], search):
                c[call["name"] if call else "(none)"] += 1
            if call and call["name"] == "FindRestaurants":
                break
    return c


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
    misses = search_misses(pred)
    if misses:
        print("\ntft on the test searches, by whether the user said city and cuisine word for word:")
        for (lit, did), n in sorted(misses.items()):
            print(f"  {lit:11s} {did:9s} {n:4d}")
    synthetic = args.scenario_dir / "synth" / "synthetic.jsonl"
    if synthetic.exists():
        first = synthetic_first_searches(synthetic)
        print(
            f"\nsynthetic set, turns once city and cuisine were said, before the first search: {dict(first)}"
        )


if __name__ == "__main__":
    main()
