"""`tft` ends a known failure with one line `tft CMD: error: ...` and exit code 2, no traceback;
checked on the real command line, in a subprocess."""

import json
import os
import re
import subprocess
import sys

from tests.serve_fixture import ScriptedOpenAIServer
from tft_utils.core.io import write_jsonl

CALL = {"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Italian"}}
ROW = {
    "question": json.dumps([{"role": "user", "content": "Find me an Italian place in San Jose."}]),
    "answer": json.dumps(CALL),
    "prediction": json.dumps(CALL),  # a well-formed call: only the judge can score it
}


def tft(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "tft_utils", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_score_with_an_llm_judge_refused_with_401_ends_in_one_error_line(tmp_path):
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, [ROW])
    with ScriptedOpenAIServer(default={"status": 401}) as server:
        endpoint = f"{{judge: {{base_url: '{server.base_url}', model: judge-model, max_retries: 1}}}}"
        r = tft(
            "score",
            str(pred),
            "--judge",
            "llm",
            "--out",
            str(tmp_path / "scored.jsonl"),
            "-p",
            "roles.judge=judge",
            "-p",
            f"backends.endpoints={endpoint}",
            "-p",
            f"backends.cache_dir={tmp_path / 'cache'}",
            cwd=tmp_path,
        )
        assert server.received, "the judge was never asked"
    *progress, last = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr[-2000:]
    assert last.startswith("tft score: error: ") and "HTTP 401" in last, r.stderr[-2000:]
    # before it, only the judge's progress bar (tqdm: "judge [model]:   0%|   | 0/1"): no traceback
    assert all(re.search(r"\d+%\|", line) for line in progress), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    assert not (tmp_path / "scored.jsonl").exists()  # nothing half-scored is left behind
