"""Where the cpu student's training tokens go: S1 Direct rendered as training sequences.

Prints (1) the share of tokens by part of a conversation (system prompt, user turns, tool results, each
tool's calls, assistant headers), (2) the sequences, tokens and loss-carrying tokens of one epoch at
several `train.max_tokens` (split sequences repeat the system prompt and some context), (3) the tool
results' tokens as stored and as compact JSON, and (4) what follows a booking confirmation and the
user's answer in the traces (ReserveRestaurant or a reply). Uses the S1 files of
scripts/bench_learning.py (built under outputs/bench_learning when missing) and SmolLM2's tokenizer.

Usage: python scripts/bench_tokens.py [--root outputs/bench_learning]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_learning import scenario_files  # noqa: E402

from tft_utils.core.io import read_jsonl  # noqa: E402
from tft_utils.domain.calls import read_call, read_results  # noqa: E402
from tft_utils.train.loop import _sequences, conversations_from_rows  # noqa: E402
from tft_utils.train.render import Renderer, load_tools  # noqa: E402
from tft_utils.train.student import smollm2_dir  # noqa: E402

CONFIRM = re.compile(r"confirm|is (that|this) (right|correct)|right\?|correct\?", re.I)
BOOKING = re.compile(r"reserv|table|book|people|person", re.I)


def part_of(renderer: Renderer, msgs: list[dict], text: str, i: int | None, is_call: bool) -> str:
    if i is None:
        return "system prompt"
    if is_call:
        return "call: " + read_call(msgs[i])["name"]
    if msgs[i]["role"] == "assistant":
        return "assistant header"
    return "tool result" if read_results(msgs[i]) is not None else "user turn"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(REPO / "outputs" / "bench_learning"))
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    sgd = Path(os.environ.get("TFT_SGD_DIR") or REPO.parent / "shared" / "sgd")
    traces, _, tools_path = scenario_files(Path(args.root), sgd)
    renderer = Renderer.create(AutoTokenizer.from_pretrained(smollm2_dir()), load_tools(tools_path))
    convs = conversations_from_rows(read_jsonl(traces), str(traces))

    parts: Counter = Counter()
    stored = compact = 0
    after: Counter = Counter()
    for conv in convs:
        msgs = conv["messages"]
        for text, _, i, is_call in renderer.pieces(msgs):
            parts[part_of(renderer, msgs, text, i, is_call)] += len(renderer.ids(text))
        for i, m in enumerate(msgs):
            res = read_results(m) if m["role"] == "user" else None
            if res is not None:
                stored += len(renderer.ids(m["content"]))
                compact += len(renderer.ids(json.dumps(res, separators=(",", ":"), ensure_ascii=False)))
            call = read_call(m) if m["role"] == "assistant" else None
            if call and call["name"] == "respond_to_user" and i + 2 < len(msgs):
                said = str(call["arguments"].get("message", ""))
                if CONFIRM.search(said) and BOOKING.search(said) and msgs[i + 1]["role"] == "user":
                    nxt = read_call(msgs[i + 2]) if msgs[i + 2]["role"] == "assistant" else None
                    if nxt:
                        after[nxt["name"]] += 1
    total = sum(parts.values())
    print(f"S1 Direct: {len(convs)} conversations, {total:,} tokens as whole conversations")
    print(f"system prompt: {len(renderer.ids(renderer.system_text))} tokens a sequence")
    for part, n in parts.most_common():
        print(f"  {part:28s} {n:9,d} {n / total:6.1%}")
    print("one epoch by train.max_tokens (split policy): sequences, tokens, tokens carrying loss")
    for max_tokens in (1024, 1536, 2048, 4096):
        seqs = [s for c in convs for s in _sequences(renderer, c, max_tokens, "split", "conversation")]
        n_tok, n_loss = sum(len(s["ids"]) for s in seqs), sum(sum(s["mask"]) for s in seqs)
        print(f"  {max_tokens:5d}: {len(seqs):4d} sequences, {n_tok:9,d} tokens, {n_loss:9,d} with loss")
    print(
        f"tool results: {stored:,} tokens as stored, {compact:,} as compact JSON ({1 - compact / stored:.1%} fewer)"
    )
    print(f"after a booking confirmation and the user's answer: {dict(after.most_common())}")


if __name__ == "__main__":
    main()
