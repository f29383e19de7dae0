"""Same seed, same bytes (issue 11, item 5): every random draw comes from the run's seed, nothing from
process state. Each command below runs twice in a fresh interpreter, under PYTHONHASHSEED=1 and =2
(string hashes, hence set iteration order, differ between the two), and must write byte-identical
outputs: the rules teacher (`tft synth`), scenarios S2, S3 and S5 (`tft scenario`), the training
sequences the student is fed (arms read in order, encoded with the smoke tokenizer), and the student
itself after 2 steps with the decoder layers compiled by inductor where a C++ compiler is found (the
cpu profile's default, `train.compile: auto`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tft_utils.core.io import read_jsonl, write_jsonl

HASH_SEEDS = ("1", "2")
N_SEEDS, N_SYNTH = 40, 50  # seed traces, validated conversations wanted
SCENARIOS = ("s2", "s3", "s5")
SYNTH_FILES = (
    "synthetic.jsonl",
    "synthetic_meta.jsonl",
    "rejected.jsonl",
    "candidates.jsonl",
    "synth_stats.json",
)
SCENARIO_FILES = ("traces.jsonl", "corruptions.jsonl", "direct_train.jsonl", "stats.json")

# One interpreter per hash seed runs the commands through the `tft` entry point (`cli.main`), then
# encodes the training data as the student sees it: each arm's files read in order
# (train.arms.training_sets), every conversation encoded (train.encode, smoke profile budgets), one
# digest per arm of the ids and loss masks.
DRIVER = """
import hashlib, json, sys
from tft_utils.cli import main

job = json.loads(sys.argv[1])
for argv in job["commands"]:
    if main(argv) != 0:
        sys.exit("tft " + " ".join(argv) + " failed")

from transformers import AutoTokenizer
from tft_utils.train.arms import training_sets
from tft_utils.core.params import load_params
from tft_utils.train.render import Renderer
from tft_utils.train.loop import encode
from tft_utils.train.render import load_tools

cfg = load_params("smoke")["train"]
renderer = Renderer.create(AutoTokenizer.from_pretrained(job["tokenizer"]), load_tools(job["tools"]))
with open(job["encoded"], "w") as f:
    for arm, convs in training_sets(job["arms"]).items():
        h = hashlib.sha256()
        for c in convs:
            for s in encode(renderer, c, cfg["max_tokens"], cfg["long_policy"], cfg["unit"]):
                h.update(json.dumps([c["dialogue_id"], s["ids"], s["mask"]]).encode())
        f.write(json.dumps({"arm": arm, "conversations": len(convs), "sha256": h.hexdigest()}) + "\\n")

# 2 steps on the TFT arm's first conversations, compiled where inductor can (the smoke profile's own
# `compile: none` turned back to the cpu profile's `auto`), the profile's dtype; digest of the weights
from pathlib import Path
from tft_utils.train.loop import train

p = load_params("smoke", overrides=[{"train": {"max_steps": 2, "compile": "auto", "save_every": 100}}])
stats = train(training_sets(job["arms"])["tft"][:8], job["model"], p, load_tools(job["tools"]), progress=False)
digest = hashlib.sha256((Path(job["model"]) / "model.safetensors").read_bytes()).hexdigest()
Path(job["trained"]).write_text(json.dumps({"compiled": stats["compiled"], "dtype": stats["dtype"], "sha256": digest}))
"""


def _run_all(jobs: dict[str, list[str]], sgd_dir: Path, logs: Path) -> None:
    """Run each hash seed's interpreter at once (one thread each: the two fit a 2-core CPU side by side).
    Their stderr goes to files under `logs`, not pipes: a pipe not read while the other one is waited
    on could fill and stall its writer."""
    base = {
        **os.environ,
        "TFT_SGD_DIR": str(sgd_dir),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    procs = {}
    try:
        for h, args in jobs.items():
            with open(logs / f"hash{h}.stderr", "w") as err:
                env = {**base, "PYTHONHASHSEED": h}
                procs[h] = subprocess.Popen(
                    [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=err
                )
        for h, proc in procs.items():
            proc.wait(timeout=240)
            err = (logs / f"hash{h}.stderr").read_text()
            assert proc.returncode == 0, f"the driver (PYTHONHASHSEED={h}) failed:\n{err[-3000:]}"
    finally:
        for proc in procs.values():
            proc.kill()  # a no-op for one that ended; ends the other when one failed or hung


def _content(path: Path) -> list[str]:
    """Lines of a JSONL file; a JSON file as one line, less the wall-clock time of its provenance."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        obj = json.loads(text)
        if isinstance(obj, dict) and isinstance(obj.get("provenance"), dict):
            obj["provenance"].pop("created", None)
        return [json.dumps(obj, sort_keys=True)]
    return text.splitlines()


def _differences(a: Path, b: Path, files: list[str]) -> list[str]:
    out = []
    for f in files:
        la, lb = _content(a / f), _content(b / f)
        if la != lb:
            n = sum(x != y for x, y in zip(la, lb, strict=False)) + abs(len(la) - len(lb))
            out.append(f"{f}: {n} of {max(len(la), len(lb))} rows differ")
    return out


@pytest.fixture(scope="module")
def runs(dataset_dir, sgd_dir, tmp_path_factory) -> dict[str, Path]:
    """hash seed -> folder holding that interpreter's synth/, s2/, s3/, s5/ and encoded.jsonl."""
    from tft_utils.train.student import base_model_dir

    root = tmp_path_factory.mktemp("determinism")
    seeds = root / "seeds.jsonl"
    write_jsonl(seeds, read_jsonl(dataset_dir / "train_pool.jsonl")[:N_SEEDS])
    tok_dir = str(base_model_dir("smoke"))  # built (or found) once, here; the children only read it
    out, jobs = {}, {}
    for h in HASH_SEEDS:
        d = out[h] = root / f"hash{h}"
        synth = ["synth", str(seeds), "--n", str(N_SYNTH), "--out", str(d / "synth"), "--quiet"]
        synth += ["-p", f"synth.tools_path={dataset_dir / 'tools.json'}"]
        synth += ["-p", f"validate.test_path={dataset_dir / 'test.jsonl'}"]
        scenarios = [["scenario", s, "--data", str(dataset_dir), "--out", str(d / s)] for s in SCENARIOS]
        job = {
            "commands": [synth, *scenarios],
            "tokenizer": tok_dir,
            "tools": str(dataset_dir / "tools.json"),
            "arms": {
                "direct": [str(d / "s2" / "traces.jsonl")],
                "direct_pairs": [str(d / "s5" / "direct_train.jsonl")],
                "tft": [str(d / "synth" / "synthetic.jsonl"), str(seeds)],
            },
            "encoded": str(d / "encoded.jsonl"),
            "model": str(d / "student"),
            "trained": str(d / "trained.json"),
        }
        jobs[h] = ["-c", DRIVER, json.dumps(job)]
    _run_all(jobs, sgd_dir, root)
    return out


def test_synth_is_the_same_under_any_string_hash_seed(runs):
    a, b = (runs[h] / "synth" for h in HASH_SEEDS)
    assert len(_content(a / "synthetic.jsonl")) == N_SYNTH
    diffs = _differences(a, b, list(SYNTH_FILES))
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_are_the_same_under_any_string_hash_seed(runs, scenario):
    a, b = (runs[h] / scenario for h in HASH_SEEDS)
    assert _content(a / "traces.jsonl")
    diffs = _differences(a, b, list(SCENARIO_FILES))
    assert not diffs, "\n".join(diffs)


def test_training_sequences_are_the_same_under_any_string_hash_seed(runs):
    a, b = (read_jsonl(runs[h] / "encoded.jsonl") for h in HASH_SEEDS)
    assert [r["arm"] for r in a] == ["direct", "direct_pairs", "tft"]
    assert all(r["conversations"] > 0 for r in a)
    differ = [r["arm"] for r, q in zip(a, b, strict=True) if r != q]
    assert not differ, f"encoded training sequences differ for arm(s) {differ}"


def test_the_compiled_student_is_the_same_under_any_string_hash_seed(runs):
    """Two processes, same seed: the same weights, byte for byte, compiled where inductor can run."""
    from tft_utils.train.loop import _inductor_works, has_cxx

    a, b = (json.loads((runs[h] / "trained.json").read_text()) for h in HASH_SEEDS)
    assert a["compiled"] is (has_cxx() and _inductor_works())
    assert a == b, f"the student's weights differ between the two processes: {a} vs {b}"
