"""The README's "Your own traces" commands, run as written (on the smoke profile, a small synthetic set) on
files a user would have: their traces, held-out traces and tools.json. The README is the test's source, so
the section cannot drift from what the commands accept."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.sgd_factory import write_sgd
from tft_utils.core.io import read_jsonl
from tft_utils.data.traces import build_dataset

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own traces") :]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start : section.index("\n```", start)]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_commands_for_your_own_traces_run_in_order(tmp_path):
    write_sgd(tmp_path / "sgd")
    (tmp_path / "ids.txt").write_text("1_00001\n")
    build_dataset(
        tmp_path / "sgd", tmp_path / "data", test_ids=str(tmp_path / "ids.txt"), excluded_ids="none"
    )
    for src, dst in [
        ("train_pool.jsonl", "my_traces.jsonl"),
        ("test.jsonl", "my_test.jsonl"),
        ("tools.json", "tools.json"),
    ]:
        (tmp_path / dst).write_bytes((tmp_path / "data" / src).read_bytes())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    commands = readme_commands()
    assert [c.split()[:2] for c in commands if c.startswith("tft ")] == [
        ["tft", "pairs"],
        ["tft", "clean"],
        ["tft", "synth"],
        ["tft", "train"],
        ["tft", "train"],
        ["tft", "predict"],
        ["tft", "score"],
    ]
    for command in commands:
        if command.startswith("tft "):
            command = re.sub(r"--n \d+", "--n 4", command)  # a small synthetic set
            argv = [sys.executable, "-m", "tft_utils", *shlex.split(command)[1:], "--profile", "smoke"]
            r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        else:  # the shell's own (cat)
            r = subprocess.run(
                command, cwd=tmp_path, env=env, shell=True, capture_output=True, text=True, timeout=60
            )
        assert r.returncode == 0, f"{command}\n{r.stderr[-2000:]}"
    pairs = read_jsonl(tmp_path / "my_pairs.jsonl")
    assert pairs == read_jsonl(tmp_path / "data" / "test_pairs.jsonl")
    scored = read_jsonl(tmp_path / "scored_tft.jsonl")
    assert [(r["dialogue_id"], r["turn"]) for r in scored] == [(p["dialogue_id"], p["turn"]) for p in pairs]
    assert (tmp_path / "models" / "direct" / "train_stats.json").exists()
    train = read_jsonl(tmp_path / "tft_train.jsonl")
    assert len(train) == len(read_jsonl(tmp_path / "synth" / "synthetic.jsonl")) + len(
        read_jsonl(tmp_path / "cleaned" / "kept.jsonl")
    )
    assert json.loads(pairs[0]["answer"])["name"]
