"""The whole chain on an endpoint (issue 14, items 1, 3 and 7): `tft run` on S4 at a tiny scale (one
trace, one test conversation, one synthetic candidate, the `smoke` student) with EVERY LLM role on a
real `transformers serve` on loopback serving the local SmolLM2-135M-Instruct copy: the filter, both
committee members, the teacher (relabel disputes, synthesis and notebook 06's teacher arm) and the judge
(synthetic conversations and the test predictions). Then:

- the ledgers (03_results.json, 04_results.json, 06_ledger.json) count what the server logged;
- a rerun makes 0 requests: unchanged, every stage is skipped; forced (`--force --stages 03,06`),
  cleaning and evaluation ask every call again and the call cache answers them all;
- the API key (set in the env variable the endpoints name) is in no output file and no log;
- the teacher's score sits beside the students' in results.json and the report's table (item 7);
- `tft plan`, made before the run from the same params, is compared with the measured ledger (item 3):
  calls exactly where the requests are known beforehand, tokens within loose bounds, upper bounds where
  they depend on replies not yet written; the ratios are written to `plan_vs_ledger.json` and printed.

SmolLM2-135M cannot write our JSON formats in a few tokens, so most replies are unparseable: they are
counted as such (the rules score stands in for the filter, members abstain, candidates are rejected),
which is the behaviour under test. The one reply that must parse is the teacher's answer to a test
turn (greedy, 40 tokens), so the LLM judge of notebook 06 gets asked. Skipped only where the loopback
server cannot start (no `transformers serve`, no fastapi/uvicorn, no local SmolLM2 copy): the
`served_smollm2` fixture says which.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, _find_shared

pytestmark = [pytest.mark.slow, pytest.mark.loopback]

KEY_ENV = "TFT_LOOPBACK_TEST_KEY"
TEST_DIALOGUE = "3_00040"  # the shortest test conversation: 12 messages, 6 test pairs
S4_DIALOGUES = ("3_00025",)  # one 10-message pool trace: 5 assistant turns, 10 committee requests
FORCED = ("03", "06")  # the stages that ask every call again when forced (04 replays its candidates)


def endpoints(base_url: str, model: str) -> dict:
    """One endpoint per role on the same served model. The members differ in sampling (greedy vs
    seeded sampling), so they are two committee members, not one cached twice. Replies are a few
    tokens (the CPU is small and shared); the teacher gets 40, enough for one tool call."""

    def ep(**sampling) -> dict:
        return {
            "base_url": base_url,
            "model": model,
            "api_key_env": KEY_ENV,
            "sampling": {"temperature": 0.0, "max_tokens": 4, **sampling},
            "concurrency": 2,
            "timeout": 300,
        }

    return {
        "loop-filter": ep(),
        "loop-member-a": ep(),
        "loop-member-b": ep(temperature=0.7, seed=7),
        "loop-teacher": ep(max_tokens=40),
        "loop-judge": ep(),
    }


def overrides(tmp: Path, base_url: str, model: str) -> list[str]:
    (tmp / "test_ids.txt").write_text(TEST_DIALOGUE + "\n")
    (tmp / "s4_ids.txt").write_text("\n".join(S4_DIALOGUES) + "\n")
    return [
        f"run.outputs={tmp / 'outputs'}",
        f"data.test_ids={tmp / 'test_ids.txt'}",
        f"scenario.s4.ids={tmp / 's4_ids.txt'}",
        "synth.n=1",
        "synth.batch=1",
        "synth.max_candidates_factor=1",
        "evaluate.judge=llm",
        "roles.filter=loop-filter",
        "roles.committee=[loop-member-a, loop-member-b]",
        "roles.teacher=loop-teacher",
        "roles.judge=loop-judge",
        "backends.endpoints=" + json.dumps(endpoints(base_url, model)),
    ]


def tft(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """`tft ...` as a user runs it, in its own process (the notebooks' kernels inherit `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "tft_utils", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


def run_args(ovs: list[str], *extra: str) -> list[str]:
    args = ["run", "--scenario", "s4", "--profile", "smoke", "--run", "endpoint", *extra]
    for ov in ovs:
        args += ["-p", ov]
    return args


def ledger_rows(scenario_dir: Path, notebooks=("03", "04", "06")) -> list[dict]:
    """Every ledger row the LLM stages recorded (03 and 04 in their results, 06 in its own file)."""
    files = {"03": "03_results.json", "04": "04_results.json", "06": "06_ledger.json"}
    rows = []
    for nb in notebooks:
        data = json.loads((scenario_dir / files[nb]).read_text())
        rows += data["ledger"] if isinstance(data, dict) else data
    return rows


def per_stage(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        agg = out.setdefault(r["stage"], {"calls": 0, "cached": 0, "requests": 0, "in": 0, "out": 0})
        agg["calls"] += r["calls"]
        agg["cached"] += r["cached"]
        agg["requests"] += r["requests"]
        agg["in"] += r["prompt_tokens"]
        agg["out"] += r["completion_tokens"]
    return out


@pytest.fixture(scope="module")
def chain(served_smollm2, tmp_path_factory):
    base_url, model = served_smollm2
    tmp = tmp_path_factory.mktemp("endpoint_chain")
    key = "sk-loopback-" + secrets.token_hex(16)
    env = {**os.environ, KEY_ENV: key, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    shared = _find_shared()
    if shared:
        env["TFT_SGD_DIR"] = str(shared / "sgd")
    ovs = overrides(tmp, base_url, model)
    timings = {}

    t0 = time.monotonic()
    plan = tft(
        [
            "plan",
            "--scenario",
            "s4",
            "--profile",
            "smoke",
            "--run",
            "endpoint",
            "--out",
            str(tmp / "plan_before.json"),
            *sum((["-p", o] for o in ovs), []),
        ],
        env,
    )
    timings["plan_s"] = round(time.monotonic() - t0, 1)
    assert plan.returncode == 0, plan.stderr[-3000:]

    before = served_smollm2.chat_requests()
    t0 = time.monotonic()
    first = tft(run_args(ovs), env)
    timings["first_run_s"] = round(time.monotonic() - t0, 1)
    assert first.returncode == 0, (first.stdout[-2000:], first.stderr[-3000:])
    after_first = served_smollm2.chat_requests()
    run_dir = tmp / "outputs" / "endpoint"
    rows_first = ledger_rows(run_dir / "s4")

    t0 = time.monotonic()
    again = tft(run_args(ovs), env)
    timings["unchanged_rerun_s"] = round(time.monotonic() - t0, 1)
    assert again.returncode == 0, again.stderr[-3000:]
    after_again = served_smollm2.chat_requests()
    shutil.copy(run_dir / "plan.json", tmp / "plan_after.json")  # the plan this rerun showed

    t0 = time.monotonic()
    forced = tft(run_args(ovs, "--force", "--stages", ",".join(FORCED)), env)
    timings["forced_rerun_s"] = round(time.monotonic() - t0, 1)
    assert forced.returncode == 0, forced.stderr[-3000:]
    after_forced = served_smollm2.chat_requests()

    return {
        "tmp": tmp,
        "key": key,
        "env": env,
        "overrides": ovs,
        "run_dir": run_dir,
        "outputs": [plan, first, again, forced],
        "requests": {
            "first": after_first - before,
            "unchanged_rerun": after_again - after_first,
            "forced_rerun": after_forced - after_again,
        },
        "rows_first": rows_first,
        "rows_forced": ledger_rows(run_dir / "s4", FORCED),
        "timings": timings,
    }


def test_every_role_called_the_server_and_the_ledgers_count_it(chain):
    stages = per_stage(chain["rows_first"])
    sent = chain["requests"]["first"]
    # the server's own access log and the ledgers agree, request for request
    assert sent == sum(s["requests"] for s in stages.values()) > 0
    s4 = chain["run_dir"] / "s4"
    turns = [json.loads(line) for line in (s4 / "clean" / "turns.jsonl").read_text().splitlines()]
    traces = (s4 / "traces.jsonl").read_text().splitlines()
    assert len(traces) == len(S4_DIALOGUES)
    # filter: one call per trace; committee: both members, one call per assistant turn each
    assert stages["filter"]["calls"] == len(traces) == stages["filter"]["requests"]
    assert stages["relabel"]["calls"] == 2 * len(turns) == stages["relabel"]["requests"]
    assert all(set(t["proposals"]) == {"loop-member-a", "loop-member-b"} for t in turns)
    # teacher: every turn the committee left undecided (here: the replies, on which the members abstained)
    disputed = sum(t["decision"] in ("teacher", "masked") for t in turns)
    assert stages["relabel-teacher"]["calls"] == disputed == stages["relabel-teacher"]["requests"] > 0
    # teacher: synthesis (one candidate) and the teacher arm (every test pair)
    pairs = (chain["run_dir"] / "data" / "test_pairs.jsonl").read_text().splitlines()
    assert stages["synth"]["requests"] == 1
    assert stages["evaluate"]["calls"] == len(pairs) == 6
    # judge: asked about every prediction that parses as a tool call (the teacher's)
    assert stages["judge"]["requests"] >= 1
    assert all(s["in"] > 0 and s["out"] > 0 for s in stages.values() if s["requests"])
    stats = json.loads((s4 / "synth" / "synth_stats.json").read_text())
    assert stats["judge_unparseable"] is not None  # the LLM judge stood for synthesis


def test_a_rerun_makes_no_request(chain):
    assert chain["requests"]["unchanged_rerun"] == 0
    unchanged = chain["outputs"][2].stdout
    assert unchanged.count("[skip]") == 7 and "[run]" not in unchanged
    # forced: 03 and 06 ran again, every call answered from the cache
    assert chain["requests"]["forced_rerun"] == 0
    assert chain["outputs"][3].stdout.count("[run]") == len(FORCED)
    stages = per_stage(chain["rows_forced"])
    assert all(s["requests"] == 0 and s["cached"] == s["calls"] for s in stages.values())
    # 03 and 06 asked everything again
    first = per_stage(chain["rows_first"])
    for stage in ("filter", "relabel", "relabel-teacher", "evaluate", "judge"):
        assert stages[stage]["calls"] == first[stage]["calls"] > 0, stage


def test_the_key_is_in_no_output_file_and_no_log(chain):
    key = chain["key"].encode()
    files = [p for p in chain["tmp"].rglob("*") if p.is_file()]
    assert len(files) > 50  # notebooks, ledgers, cache entries, models, predictions, report
    assert any("llm_cache" in p.parts for p in files)
    leaked = [str(p) for p in files if key in p.read_bytes()]
    assert leaked == []
    for proc in chain["outputs"]:
        assert chain["key"] not in proc.stdout + proc.stderr
    # the variable's name is what params hold
    assert KEY_ENV in (chain["run_dir"] / "s4" / "results.json").read_text()


def test_the_teacher_is_scored_beside_the_students(chain):
    from tft_utils.evaluate.results import ScenarioResults

    res = ScenarioResults.read(chain["run_dir"] / "s4" / "results.json")
    assert set(res.metrics) == {"base", "direct", "tft", "teacher"}
    teacher = res.metrics["teacher"]["llm_as_a_judge"]
    assert teacher.pairs == 6 and teacher.seeds is None
    assert 0.0 <= teacher.ci_low <= teacher.mean <= teacher.ci_high <= 1.0
    table = pd.read_csv(chain["run_dir"] / "report" / "table.csv").set_index("scenario")
    row = table.loc["S4 Low Data"]
    assert row["teacher"] == pytest.approx(teacher.mean)
    assert row["teacher_model"] == "loop-teacher"
    md = (chain["run_dir"] / "report" / "table.md").read_text()
    assert "`loop-teacher`" in md and "GLM-5 0.835" in md


PLANNED_EXACTLY = ("filter", "relabel", "synth", "evaluate")  # requests known before the run
UPPER_BOUNDS = ("relabel-teacher", "synth-judge", "judge")  # depend on replies not yet written


def planned_per_stage(plan: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in plan["llm_by_stage"]:
        agg = out.setdefault(r["stage"], {"calls": 0, "max": 0, "cached": 0, "to_send": 0, "in": 0, "out": 0})
        agg["calls"] += r["calls"]
        agg["max"] += r["calls_max"]
        agg["cached"] += r["cached"] + r["repeats"]
        agg["to_send"] += r["to_send"]
        agg["in"] += r["input_tokens"]
        agg["out"] += r["output_tokens"]
    return out


def test_the_plan_made_before_the_run_against_its_ledger(chain):
    """Issue 14 item 3: the plan's estimate / the measured ledger, per stage, for calls and tokens."""
    planned = planned_per_stage(json.loads((chain["tmp"] / "plan_before.json").read_text()))
    measured = per_stage(chain["rows_first"])
    ratios = {}
    for stage in [s for s in planned if s in measured]:
        p, m = planned[stage], measured[stage]
        ratios[stage] = {
            "calls": [p["calls"], m["calls"]],
            "input_tokens": [p["in"], m["in"]],
            "output_tokens": [p["out"], m["out"]],
            "max_calls": p["max"],
            "ratio_calls": round(p["calls"] / m["calls"], 3) if m["calls"] else None,
            "ratio_input": round(p["in"] / m["in"], 3) if m["in"] else None,
            "ratio_output": round(p["out"] / m["out"], 3) if m["out"] else None,
        }
    exact = [s for s in PLANNED_EXACTLY if s in measured]
    p_in, m_in = sum(planned[s]["in"] for s in exact), sum(measured[s]["in"] for s in exact)
    p_out, m_out = sum(planned[s]["out"] for s in exact), sum(measured[s]["out"] for s in exact)
    ratios["exact stages"] = {"ratio_input": round(p_in / m_in, 3), "ratio_output": round(p_out / m_out, 3)}
    (chain["tmp"] / "plan_vs_ledger.json").write_text(
        json.dumps({"ratios": ratios, **chain["timings"]}, indent=1)
    )
    print("\nplan / ledger:", json.dumps(ratios, indent=1), "\ntimings:", chain["timings"])
    # every LLM stage the run used was planned; nothing was cached before the run
    assert set(measured) <= set(planned)
    assert all(p["cached"] == 0 for p in planned.values())
    for stage in exact:  # the same requests: the same number of calls, tokens within loose bounds
        assert planned[stage]["calls"] == measured[stage]["calls"], stage
        assert 0.67 <= planned[stage]["in"] / measured[stage]["in"] <= 1.5, ratios[stage]
        assert 0.5 <= planned[stage]["out"] / measured[stage]["out"] <= 2.0, ratios[stage]
    for stage in UPPER_BOUNDS:  # estimated counts may miss; the most a stage can make may not
        assert planned.get(stage, {"max": 0})["max"] >= measured.get(stage, {"calls": 0})["calls"], stage


def test_a_plan_made_after_the_run_finds_every_call_in_the_cache(chain):
    """The plan `tft run` showed before the unchanged rerun: what the first run asked is cached, and the
    judge's calls are now exact (the predictions exist): the number the ledger measured."""
    after = planned_per_stage(json.loads((chain["tmp"] / "plan_after.json").read_text()))
    measured = per_stage(chain["rows_first"])
    for stage in ("filter", "relabel", "relabel-teacher", "synth", "evaluate", "judge"):
        assert after[stage]["calls"] == measured[stage]["calls"], stage
        assert after[stage]["to_send"] == 0 and after[stage]["cached"] == after[stage]["calls"], stage
    assert "plan written to" in chain["outputs"][2].stdout
