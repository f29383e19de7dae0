"""Time `tft score` with the rubric judge on 10,000 pairs (issue 3: must take under 10 s).

Pairs: every assistant turn of the published test conversations (shipped in tft_utils/resources),
each scored against a mix of predictions (gold, other turns' calls, a fixed question, broken text),
repeated to 10,000 rows. The time covers reading, every metric, the judge, the bootstrap summary
and writing the scored file.  Usage: python scripts/bench_score.py [N]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from tft_utils.core.io import read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.evaluate.score import score_file
from tft_utils.resources import resource


def published_pairs() -> list[dict]:
    """Expand each published conversation (question + final answer) at every assistant turn."""
    pairs = []
    src = resource("published_test.jsonl")
    for c, row in enumerate(read_jsonl(Path(str(src)))):
        answer = json.loads(row["answer"])
        fn = {"name": answer["name"], "arguments": answer["parameters"]}
        messages = json.loads(row["question"]) + [{"role": "assistant", "tool_calls": [{"function": fn}]}]
        for i, m in enumerate(messages):
            if m.get("role") == "assistant":
                f = m["tool_calls"][0]["function"]
                gold = json.dumps({"name": f["name"], "parameters": f["arguments"]})
                pairs.append(
                    {
                        "dialogue_id": f"pub{c}",
                        "turn": i,
                        "question": json.dumps(messages[:i]),
                        "answer": gold,
                    }
                )
    return pairs


def main(n: int = 10_000) -> float:
    rng = random.Random(0)
    pairs = published_pairs()
    answers = [p["answer"] for p in pairs]
    kinds = [
        lambda p: p["answer"],
        lambda p: rng.choice(answers),
        lambda p: '{"name": "respond_to_user", "parameters": {"message": "What city?"}}',
        lambda p: "<tool_call>" + p["answer"].replace('"parameters"', '"arguments"') + "</tool_call>",
        lambda p: "I think the answer is a restaurant",
    ]
    rows = [{**p, "prediction": rng.choice(kinds)(p)} for p in (pairs * (n // len(pairs) + 1))[:n]]
    with tempfile.TemporaryDirectory() as tmp:
        pred, out = Path(tmp) / "pred.jsonl", Path(tmp) / "scored.jsonl"
        write_jsonl(pred, rows)
        params = load_params()
        t0 = time.perf_counter()
        _, summary = score_file(pred, "rubric", out, params, progress=False)
        elapsed = time.perf_counter() - t0
    print(
        f"tft score, rubric judge: {n} pairs in {elapsed:.2f} s ({n / elapsed:.0f} pairs/s); "
        f"llm_as_a_judge mean {summary['metrics']['llm_as_a_judge']['mean']:.3f}"
    )
    return elapsed


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
