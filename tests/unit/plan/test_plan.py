"""`tft plan` (tft_utils/plan*.py): counts from the stages' own request builders, cache lookups on the
real keys, de-duplication across scenarios, costs at the endpoints' prices, the student's budget rule,
and `tft run --budget` refusing before anything runs. Offline: the endpoints named here do not exist
(nothing is sent); the data is rebuilt from ../shared/sgd. The estimate is checked against a real run's
ledger in tests/notebooks/test_endpoint_chain.py."""

from __future__ import annotations

import json
import math
import random

import pytest

from tft_utils import cli
from tft_utils.core.io import write_json, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.llm.backends import cache_key, endpoint_config
from tft_utils.plan.calls import Request, StageCounter, Tokens, synth_calls
from tft_utils.plan.estimate import BudgetError, budget_problem, check_budget, make_plan
from tft_utils.plan.inputs import sample_seeds
from tft_utils.plan.student import train_estimate

ENDPOINT = {"base_url": "http://127.0.0.1:9/v1", "model": "some/model", "sampling": {"max_tokens": 50}}


def endpoints(**extra) -> str:
    return "backends.endpoints=" + json.dumps({"ep": {**ENDPOINT, **extra}})


def msgs(text: str) -> list[dict]:
    return [{"role": "system", "content": "s" * 30}, {"role": "user", "content": text}]


@pytest.fixture
def sgd(sgd_dir, monkeypatch):
    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))
    return sgd_dir


def test_tokens_are_characters_over_the_ratio_plus_a_template_cost_per_message():
    t = Tokens({"chars_per_token": 3.0, "message_tokens": 7})
    assert t.text("x" * 9) == 3 and t.text("x" * 10) == 4 and t.text(None) == 0
    assert t.prompt(msgs("y" * 30)) == (10 + 7) + (10 + 7)


def test_cached_repeated_and_new_calls_are_told_apart_on_the_real_cache_keys(tmp_path):
    params = load_params(
        "smoke",
        overrides=[
            endpoints(price_in_per_mtok=2.0, price_out_per_mtok=10.0),
            f"backends.cache_dir={tmp_path}",
        ],
    )
    cfg = endpoint_config(params, "ep")
    key = cache_key(cfg["model"], cfg["sampling"], "v1", msgs("cached one"))
    write_json(tmp_path / key[:2] / f"{key}.json", {"text": "ok"})  # what OpenAIChat writes
    seen: set = set()
    count = StageCounter(params, Tokens(params["plan"]), seen)
    reqs = [
        Request(msgs("cached one"), "r" * 30, True),
        Request(msgs("new one"), "r" * 300, True),  # its reply is capped at max_tokens (50)
        Request(msgs("new one"), "r" * 30, True),  # asked twice: the second comes from the cache
        Request(msgs("a guess"), "r" * 30, False),  # inexact: never looked up
    ]
    row = count.row("s1", "03", "filter", "filter", "ep", "v1", reqs)
    assert (row.calls, row.cached, row.repeats, row.to_send) == (4, 1, 1, 2)
    assert row.basis == "estimated" and row.output_max == 4 * 50
    assert row.output_tokens == 10 + 50 + 10 + 10
    assert row.cost_usd == pytest.approx((row.input_tokens * 2.0 + row.output_tokens * 10.0) / 1e6)
    assert row.spend_usd == pytest.approx((row.send_input_tokens * 2.0 + row.send_output_tokens * 10.0) / 1e6)
    assert row.send_output_tokens == 50 + 10
    # a later stage of the same plan asking the same: answered by the cache by then
    again = StageCounter(params, Tokens(params["plan"]), seen).row(
        "s2", "03", "filter", "filter", "ep", "v1", reqs[1:2]
    )
    assert (again.to_send, again.repeats) == (0, 1)
    # no price: no cost, never "free"
    bare = load_params("smoke", overrides=[endpoints(), f"backends.cache_dir={tmp_path}"])
    row = StageCounter(bare, Tokens(bare["plan"]), set()).row(
        "s1", "03", "filter", "filter", "ep", "v1", reqs
    )
    assert row.cost_usd is None and row.spend_usd is None


def test_reasoning_tokens_assumed_per_call_are_capped_by_max_tokens(tmp_path):
    params = load_params("smoke", overrides=[endpoints(), "plan.reasoning_tokens_per_call=45"])
    row = StageCounter(params, Tokens(params["plan"]), set()).row(
        "s1", "06", "judge", "judge", "ep", "v", [Request(msgs("q"), "r" * 30, True)]
    )
    assert row.output_tokens == 50  # 10 + 45, capped at max_tokens 50


def test_synthesis_calls_come_in_batches_until_enough_pass_or_the_limit():
    def calls(**synth):
        return synth_calls(load_params("smoke", overrides=[f"synth.{k}={v}" for k, v in synth.items()]))

    assert calls(n=10, batch=4, max_candidates_factor=3) == (20, 30)  # 10 / 0.5 = 20: 5 batches
    assert calls(n=10, batch=8, max_candidates_factor=3) == (24, 30)  # whole batches
    assert calls(n=10, batch=8, max_candidates_factor=1.5) == (15, 15)  # the limit stops it
    assert calls(n=1, batch=1, max_candidates_factor=1) == (1, 1)


def test_seed_sample_is_the_one_synthesis_draws(tmp_path):
    from tft_utils.synth.pipeline import seed_rows

    rows = [
        {"dialogue_id": f"1_{i:05d}", "messages": [{"role": "user", "content": str(i)}]} for i in range(40)
    ]
    random.Random(1).shuffle(rows)
    write_jsonl(tmp_path / "kept.jsonl", rows)
    for n, seed in ((90, 0), (7, 0), (7, 3)):
        assert sample_seeds(rows, n, seed) == seed_rows(tmp_path / "kept.jsonl", n, seed)


def test_student_budget_follows_train_py():
    params = load_params("smoke", overrides=["train.max_tokens=100", "train.max_steps=0", "train.epochs=2"])
    # three conversations; the 250-token one continues in three sequences
    seqs, steps, tokens = train_estimate([50, 250, 100], params)
    assert (seqs, steps) == (5, 10) and tokens == pytest.approx(10 * 400 / 5, abs=1)
    params = load_params("smoke", overrides=["train.max_steps=7", "train.conversations_per_step=2"])
    assert train_estimate([100, 300], params) == (2, 7, 7 * 2 * 200)


def test_a_plan_counts_what_the_stages_will_send_and_asks_each_test_turn_once(sgd, tmp_path):
    ovs = [
        f"run.outputs={tmp_path}",
        "roles.teacher=ep",
        "roles.judge=ep",
        "evaluate.judge=llm",
        endpoints(price_in_per_mtok=1.0, price_out_per_mtok=1.0),
    ]
    plan = make_plan("smoke", ["s1", "s4"], ovs, pipelines=["direct"], run="p")
    rows = {(r.scenario, r.stage): r for r in plan.llm}
    # the teacher arm: every test pair, built by predict_endpoint; S4 asks the very same requests
    assert rows["s1", "evaluate"].calls == 360 and rows["s1", "evaluate"].basis == "exact"
    assert (rows["s4", "evaluate"].repeats, rows["s4", "evaluate"].to_send) == (360, 0)
    # the judge: nothing predicted yet, so every prediction is assumed to parse: the base and the
    # teacher once per run (every scenario reads the same predictions), each student per scenario
    assert rows["s1", "judge"].calls == 3 * 360 and rows["s4", "judge"].calls == 360
    assert rows["s1", "judge"].basis == "estimated"
    assert plan.totals()["to_send"] == 360 + 3 * 360 + 360
    totals = plan.totals()
    assert (
        0
        < totals["spend_usd"]
        == pytest.approx(totals["cost_usd"] - rows["s4", "evaluate"].cost_usd, abs=1e-3)
    )
    # students: the base predicted once; Direct trains and predicts in each scenario
    arms = [(s.scenario, s.arm) for s in plan.students]
    assert arms == [("s1", "base"), ("s1", "direct"), ("s4", "direct")]
    assert all(s.train_tokens > 0 for s in plan.students if s.arm == "direct")
    assert math.isclose(
        plan.totals()["student_hours"],
        sum(s.train_hours + s.predict_hours for s in plan.students),
        abs_tol=1e-3,
    )
    # nothing was written but the plan: the data was rebuilt in a temporary folder
    assert not (tmp_path / "p").exists()


def test_the_tool_base_is_planned_once_until_its_cache_holds_the_same_recipe(sgd, tmp_path):
    from tft_utils.core import fresh
    from tft_utils.core.params import load_params
    from tft_utils.train.student import base_model_path
    from tft_utils.train.tool_base import tool_base_conversations, tool_base_fingerprint, tool_base_folder

    ovs = [f"run.outputs={tmp_path}", f"student.cache_dir={tmp_path / 'models'}", "student.tool_base=sgd"]
    plan = make_plan(
        "smoke", ["s1", "s4"], [*ovs, "student.tool_base_steps=30"], pipelines=["direct"], run="p"
    )
    base = [s for s in plan.students if s.arm == "tool base"]
    # once per machine, before the first scenario: 30 steps of ~1 dialogue of the other services each
    assert [(s.scenario, s.steps) for s in base] == [("s1", 30)] and base[0].conversations > 500
    assert 30 * 100 < base[0].train_tokens < 30 * 1000 and base[0].train_hours > 0
    # timed at the base's own rate (every layer), not the students' (params.plan)
    rate = load_params("smoke", None, ovs)["plan"]["tool_base_tokens_per_s"]
    assert math.isclose(base[0].train_hours, base[0].train_tokens / rate / 3600, abs_tol=1e-4)
    # its cache stamped as a run stamps it: nothing left to train; another budget: trained again
    params = load_params("smoke", None, [*ovs, "student.tool_base_steps=30"])
    folder = tool_base_folder(params)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    base = base_model_path("smoke", tmp_path / "models")
    fresh.stamp(folder, tool_base_fingerprint(params, base, tool_base_conversations(sgd)))
    again = make_plan("smoke", ["s1"], [*ovs, "student.tool_base_steps=30"], pipelines=["direct"], run="p")
    assert [s.train_tokens for s in again.students if s.arm == "tool base"] == [0]
    more = make_plan("smoke", ["s1"], [*ovs, "student.tool_base_steps=40"], pipelines=["direct"], run="p")
    assert [s.steps for s in more.students if s.arm == "tool base"] == [40]
    plain = make_plan("smoke", ["s1"], ovs[:1], pipelines=["direct"], run="p")
    assert not [s for s in plain.students if s.arm == "tool base"]


def test_the_plan_never_downloads_the_tool_base_dialogues(monkeypatch, tmp_path):
    """Without local SGD files the tool base's row cannot be counted: the plan says so and where to get
    them, and does not reach for data.sgd_url (a closed loopback port: a download would fail otherwise)."""
    from tft_utils.core.io import DataError
    from tft_utils.data import sgd as sgd_mod
    from tft_utils.plan.student import tool_base_row

    monkeypatch.delenv("TFT_SGD_DIR", raising=False)
    monkeypatch.setattr(sgd_mod, "DEFAULT_DIR", tmp_path / "no-sgd")
    params = load_params(
        "smoke",
        "s1",
        ["student.tool_base=sgd", "data.sgd_url=http://127.0.0.1:9/sgd.zip", f"run.outputs={tmp_path}"],
    )
    with pytest.raises(DataError, match="never downloads.*no SGD folder.*`tft data` downloads them"):
        tool_base_row("s1", params, Tokens(params["plan"]))
    assert not (tmp_path / "no-sgd").exists()


def test_committee_and_filter_prompts_are_those_of_notebook_03(sgd, tmp_path):
    from tft_utils.clean.align import align
    from tft_utils.clean.filter import score_traces
    from tft_utils.data.scenarios import make_scenario
    from tft_utils.data.traces import build_dataset

    ovs = [
        f"run.outputs={tmp_path}",
        "roles.filter=ep",
        "roles.committee=[ep, rules:state_tracker]",
        endpoints(),
    ]
    plan = make_plan("smoke", ["s4"], ovs, pipelines=["tft"], run="p")
    rows = {r.stage: r for r in plan.llm}
    params = load_params("smoke", "s4", ovs)
    build_dataset(sgd, tmp_path / "data")
    traces, _ = make_scenario("s4", tmp_path / "data", sgd, params, 0)
    kept = [t for t, s in zip(traces, score_traces(traces, params), strict=True) if s["kept"]]
    turns = sum(m["role"] == "assistant" for t in align(kept, params["align"])[0] for m in t["messages"])
    assert rows["filter"].calls == len(traces) == 5
    assert rows["filter"].basis == "exact"  # the filter's prompts do not depend on any reply
    assert rows["relabel"].calls == turns  # one endpoint member: one call per assistant turn
    assert rows["relabel"].note == "turns of the traces the rules filter keeps"


def test_budget_refuses_past_it_or_unpriced_unless_told_yes(sgd, tmp_path):
    ovs = [f"run.outputs={tmp_path}", "roles.teacher=ep", endpoints(price_in_per_mtok=5.0)]
    plan = make_plan("smoke", ["s4"], ovs, pipelines=["direct"], run="p")
    spend = plan.totals()["spend_usd"]
    assert spend > 0
    assert budget_problem(plan, None) is None and budget_problem(plan, spend * 2) is None
    assert "past --budget" in budget_problem(plan, spend / 2)
    with pytest.raises(BudgetError, match=r"estimated spend \$.* is past --budget .*--yes runs anyway"):
        check_budget(plan, spend / 2)  # under pytest stdin is no terminal: refused, not asked
    check_budget(plan, spend / 2, yes=True)
    check_budget(plan, spend / 2, ask=lambda question: "y")
    with pytest.raises(BudgetError):
        check_budget(plan, spend / 2, ask=lambda question: "")
    unpriced = make_plan("smoke", ["s4"], ovs[:2] + [endpoints()], pipelines=["direct"], run="p")
    assert "no price for ep" in budget_problem(unpriced, 1000.0)


def test_tft_run_over_budget_stops_before_anything_runs(sgd, tmp_path, capsys):
    args = ["--scenario", "s4", "--profile", "smoke", "--run", "b", "--pipelines", "direct"]
    ovs = ["-p", f"run.outputs={tmp_path}", "-p", "roles.teacher=ep", "-p", endpoints(price_in_per_mtok=5.0)]
    assert cli.main(["run", *args, "--budget", "0.0001", *ovs]) == 2
    out, err = capsys.readouterr()
    assert "06 evaluate" in out and "plan written to" in out  # the plan was shown first
    assert err.strip().startswith("tft run: error: estimated spend $") and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["plan.json"]  # no stage ran
    plan = json.loads((tmp_path / "b" / "plan.json").read_text())
    assert plan["totals"]["to_send"] == 360 and plan["llm_by_stage"][0]["stage"] == "evaluate"


def test_tft_plan_prints_and_writes_the_plan(sgd, tmp_path, capsys):
    out_file = tmp_path / "plan.json"
    argv = ["plan", "--scenario", "s4", "--profile", "smoke", "--out", str(out_file)]
    argv += [
        "-p",
        f"run.outputs={tmp_path}",
        "-p",
        "roles.judge=ep",
        "-p",
        "evaluate.judge=llm",
        "-p",
        endpoints(),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "06 judge" in out and "no price for ep" in out and "Student (smoke" in out
    plan = json.loads(out_file.read_text())
    assert plan["profile"] == "smoke" and plan["scenarios"] == ["s4"]
    assert {"calls", "to_send", "cost_usd", "spend_usd", "train_tokens", "student_hours"} <= set(
        plan["totals"]
    )
    assert plan["totals"]["unpriced_endpoints"] == ["ep"]
    assert plan["assumptions"]["tokens"] == "characters / 3.0 + 7 per message"
    # --budget on tft plan: exit 2 when the spend cannot be checked
    assert cli.main([*argv, "--budget", "1"]) == 2


def test_a_run_that_trains_students_starts_with_their_hours_left(sgd, tmp_path):
    import argparse

    from tft_utils.run.study import show_plan

    args = argparse.Namespace(
        profile="smoke", overrides=[f"run.outputs={tmp_path}"], run="h", budget=None, yes=False
    )
    said = []
    show_plan(args, ["s4"], ["direct"], None, [0, 1], log=said.append)
    plan = json.loads((tmp_path / "h" / "plan.json").read_text())
    hours = plan["totals"]["student_hours"]
    assert hours > 0 and len(said) == 1  # one line, not the table (no endpoint, no budget)
    assert said[0].startswith(f"plan: the students' work left, {hours:.2f} h of training and predicting (")
    assert "~10%): 2 of 2 students to train (" in said[0]
    assert "tokens), 3 of 3 models to predict;" in said[0]  # the base, Direct's seeds 0 and 1
    assert "run.jobs" not in said[0]  # the smoke profile: one model at a time
    # two at a time (run.jobs 2): the hours are each model's, and the line says the machine's are fewer
    said.clear()
    args.overrides = [*args.overrides, "run.jobs=2"]
    show_plan(args, ["s4"], ["direct"], None, [0, 1], log=said.append)
    assert said[0].endswith(
        "; run.jobs 2: 2 models at a time, so the machine takes less than these hours (1.1-1.3x "
        "less with 2 on a 2-core AMD EPYC; tft plan --measure measures it here)"
    )
    # a run of stages that train or predict nothing: no plan
    said.clear()
    show_plan(args, ["s4"], ["direct"], ["01", "02"], None, log=said.append)
    assert said == []
