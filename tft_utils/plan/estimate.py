"""`tft plan`: what a run will call, send, cost and train, before anything runs (offline).

For every scenario, LLM stage and endpoint: the number of calls, the calls already in the call cache
(or asked earlier in the same plan: the cache answers those too), the calls left to send, estimated
input and output tokens, and their cost at the endpoint's prices (`price_in_per_mtok`,
`price_out_per_mtok`, USD per million tokens; unpriced endpoints are named, never costed as free).
For the student: the tokens each arm trains and predicts, and the device hours at the throughputs
stated in `params.plan`. `tft run` shows the plan and, with `--budget`, refuses to spend past it.

How each count is known (the plan's `basis` column says which):
- `exact`: the stage's own request builder is called on the same data the stage will read (filter
  prompts, committee prompts, the teacher's synthesis prompts, the teacher arm's test turns, the judge's
  prompts when the predictions exist), so calls are exact and `cached` checks the real cache keys;
- `estimated`: what depends on replies not written yet - which traces an LLM filter keeps (the rules
  filter's decision stands in), which turns an LLM committee disputes (the rules committee's), how many
  teacher conversations pass validation (`plan.synth_accept`), which predictions parse (all, for the judge).
Tokens are characters / `plan.chars_per_token` + `plan.message_tokens` per message (no tokenizer needed;
calibrated on SmolLM2's tokenizer over these prompts); an output is the expected reply (a verdict, a call,
a conversation as long as its example) plus `plan.reasoning_tokens_per_call`, at most `max_tokens`;
`output_max` is every call at `max_tokens`.

Data: the dataset and scenario traces are rebuilt in memory from the local SGD files (seconds, no
network); when the run folder already holds outputs that are current (the cleaned folder, predictions)
they are read instead, so a plan made mid-run is exact for what is done.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tft_utils.core.io import DataError, write_json
from tft_utils.llm.backends import cache_dir as llm_cache_dir
from tft_utils.plan.calls import STAGE_ORDER, Row, StageCounter, Tokens, llm_rows
from tft_utils.plan.inputs import Data, dataset
from tft_utils.plan.show import render
from tft_utils.plan.student import Student, student_rows


class BudgetError(DataError):
    """The plan's spend is past --budget (or cannot be costed) and nobody said yes."""


@dataclass
class Plan:
    profile: str
    scenarios: list[str]
    pipelines: list[str]
    run_dir: str
    cache_dir: str
    made: str
    seconds: float = 0.0
    assumptions: dict = field(default_factory=dict)
    llm: list[Row] = field(default_factory=list)
    students: list[Student] = field(default_factory=list)

    def totals(self) -> dict:
        rows = self.llm
        priced = [r for r in rows if r.cost_usd is not None]
        unpriced = sorted({r.endpoint for r in rows if r.cost_usd is None and r.calls})
        unpriced_spend = sorted({r.endpoint for r in rows if r.spend_usd is None and r.to_send})
        return {
            "calls": sum(r.calls for r in rows),
            "calls_max": sum(r.calls_max for r in rows),
            "cached": sum(r.cached for r in rows),
            "repeats": sum(r.repeats for r in rows),
            "to_send": sum(r.to_send for r in rows),
            "input_tokens": sum(r.input_tokens for r in rows),
            "output_tokens": sum(r.output_tokens for r in rows),
            "cost_usd": round(sum(r.cost_usd for r in priced), 4),
            "spend_usd": round(sum(r.spend_usd or 0.0 for r in rows), 4),
            "unpriced_endpoints": unpriced,
            "unpriced_to_send": unpriced_spend,
            "train_tokens": sum(s.train_tokens for s in self.students),
            "predict_tokens": sum(s.predict_tokens for s in self.students),
            "student_hours": round(sum(s.train_hours + s.predict_hours for s in self.students), 3),
            "machine_hours": self.machine_hours(),
        }

    def machine_hours(self) -> float | None:
        """The machine's hours with run.jobs models at a time: each model's hours over the side-by-side factors
        `tft plan --measure` measured (the tool base is built alone); None when they were not measured."""
        f = self.assumptions.get("side_by_side")
        if not f:
            return None
        return round(
            sum(
                s.train_hours / (1 if s.arm == "tool base" else f["train_factor"])
                + s.predict_hours / f["predict_factor"]
                for s in self.students
            ),
            3,
        )

    def by_stage(self) -> list[dict]:
        """The LLM rows summed over scenarios (one per stage x endpoint), in run order."""
        out: dict[tuple, dict] = {}
        for r in self.llm:
            k = (r.notebook, r.stage, r.endpoint)
            if k not in out:
                out[k] = {
                    "notebook": r.notebook,
                    "stage": r.stage,
                    "role": r.role,
                    "endpoint": r.endpoint,
                    "model": r.model,
                    "basis": set(),
                    **{c: 0 for c in SUMMED},
                    "cost_usd": 0.0,
                    "spend_usd": 0.0,
                }
            agg = out[k]
            agg["basis"].add(r.basis)
            for c in SUMMED:
                agg[c] = None if agg[c] is None or getattr(r, c) is None else agg[c] + getattr(r, c)
            for c in ("cost_usd", "spend_usd"):
                agg[c] = None if agg[c] is None or getattr(r, c) is None else agg[c] + getattr(r, c)
        rows = sorted(out.values(), key=lambda a: (a["notebook"], STAGE_ORDER[a["stage"]], a["endpoint"]))
        for a in rows:
            a["basis"] = "exact" if a["basis"] == {"exact"} else "estimated"
        return rows

    def to_json(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("llm", "students")},
            "totals": self.totals(),
            "llm_by_stage": self.by_stage(),
            "llm": [asdict(r) for r in self.llm],
            "students": [asdict(s) for s in self.students],
        }


SUMMED = ("calls", "calls_max", "cached", "repeats", "to_send", "input_tokens", "output_tokens", "output_max")


# -- the whole plan ------------------------------------------------------------------------------------
def make_plan(
    profile: str,
    scenarios: list[str],
    overrides=(),
    pipelines=("direct", "tft"),
    run: str | None = None,
    seeds: list[int] | None = None,
    log=None,
    stages: list[str] | None = None,
    measure: bool = False,
) -> Plan:
    """The plan of `tft run` with the same arguments (`stages`: only those notebooks' calls and work).
    The student's hours use this machine's measured throughputs where they are kept for its recipe
    (tft_utils/plan/throughput.py; `measure`: measure them now), else the ones params.plan assumes."""
    from tft_utils.core.params import load_params
    from tft_utils.core.paths import run_paths
    from tft_utils.plan import throughput

    started = time.time()
    overrides = list(overrides) + ([f"run.seeds={json.dumps(seeds)}"] if seeds else [])
    base = load_params(profile, None, overrides)
    run = run or base["run"]["name"]
    run_dir = run_paths(Path(base["run"]["outputs"]) / run)["run"]
    tokens = Tokens(base["plan"])
    plan = Plan(
        profile=profile,
        scenarios=list(scenarios),
        pipelines=list(pipelines),
        run_dir=str(run_dir),
        cache_dir=str(llm_cache_dir(base)),
        made=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    seen: set[str] = set()
    once: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="tft-plan-") as tmp:
        data = dataset(base, run_dir, Path(tmp))
        measured = throughput.rates(base, data, measure=measure, log=log)
        for k, s in enumerate(scenarios):
            if log:
                log(f"plan: {s} ...")
            params = load_params(profile, s, overrides)
            rates = (
                measured
                if measured and throughput.fingerprint(params)["digest"] == measured["digest"]
                else None
            )
            if rates:  # this machine's figures for this recipe in place of the assumed ones
                params["plan"] = {**params["plan"], **{f: rates[f] for f in throughput.FIGURES if f in rates}}
            paths = run_paths(run_dir, s)
            count = StageCounter(params, tokens, seen)
            rows, cleaned, pairs = llm_rows(s, params, paths, data, pipelines, count, once)
            plan.llm += rows
            plan.students += student_rows(s, params, paths, data, pipelines, cleaned, pairs, tokens, k == 0)
            if k == 0:
                plan.assumptions = assumptions(params, data, cleaned, rates)
    if stages:
        plan.llm = [r for r in plan.llm if r.notebook in stages]
        plan.students = [s for s in plan.students if {"05", "06"} & set(stages)]
    plan.seconds = round(time.time() - started, 1)
    return plan


def assumptions(params: dict, data: Data, cleaned, measured: dict | None = None) -> dict:
    p = params["plan"]
    if measured:
        cpu = measured["fingerprint"]["params"]["machine"]
        source = (
            f"measured on this machine ({cpu['cpu']['model']}, {cpu['torch_threads']} torch threads) "
            f"on {measured['measured']}"
        )
    else:
        source = "as stated in params.plan; tft plan --measure times them on this machine"
    return {
        "throughput": source,
        "data": data.source,
        "cleaning": cleaned.source if cleaned else None,
        "tokens": f"characters / {p['chars_per_token']} + {p['message_tokens']} per message",
        "reasoning_tokens_per_call": p["reasoning_tokens_per_call"],
        "synth_accept": p["synth_accept"],
        "train_tokens_per_s": p["train_tokens_per_s"],
        "tool_base_tokens_per_s": p["tool_base_tokens_per_s"],
        "predict_tokens_per_s": p["predict_tokens_per_s"],
        "student": params["student"]["model"],
        "device": params["student"]["device"],
        "jobs": params["run"]["jobs"],
        # run.jobs > 1 and measured: what the machine does an hour side by side over one model at a time
        "side_by_side": (
            {k: measured["side_by_side"][k] for k in ("train_factor", "predict_factor")}
            if measured and measured.get("side_by_side")
            else None
        ),
    }


def write(plan: Plan, path: str | Path) -> Path:
    return write_json(path, plan.to_json())


# -- spending past a budget ----------------------------------------------------------------------------
def budget_problem(plan: Plan, budget: float | None) -> str | None:
    """Why the plan may not spend under `budget` USD: its calls left to send cost more, or cannot be
    costed (an endpoint with calls to send has no price); None when it fits or no budget is set."""
    if budget is None:
        return None
    t = plan.totals()
    if t["unpriced_to_send"]:
        return (
            f"the spend cannot be checked against --budget {budget:g}: no price for "
            f"{', '.join(t['unpriced_to_send'])} (backends.endpoints.<name>.price_in_per_mtok / price_out_per_mtok)"
        )
    if t["spend_usd"] > budget:
        return f"estimated spend ${t['spend_usd']:,.2f} is past --budget ${budget:,.2f}"
    return None


def check_budget(plan: Plan, budget: float | None, yes: bool = False, ask=None) -> None:
    """Before a run: past the budget, ask (`ask`, else the terminal when there is one) and raise
    BudgetError unless the answer is yes; `yes` (--yes) skips the question. Not interactive: refuse."""
    why = budget_problem(plan, budget)
    if why is None or yes:
        return
    if ask is None and sys.stdin.isatty():
        ask = input
    if ask is not None and str(ask(f"{why}. Run anyway? [y/N] ")).strip().lower() in ("y", "yes"):
        return
    raise BudgetError(f"{why}; nothing was run (--yes runs anyway)")


# -- command line --------------------------------------------------------------------------------------
def scenario_list(text: str) -> list[str]:
    from tft_utils.core.params import SCENARIOS

    out = list(SCENARIOS) if text == "all" else [s.strip().lower() for s in text.split(",")]
    for s in out:
        if s not in SCENARIOS:
            raise FileNotFoundError(f"unknown scenario '{s}' (choose from {', '.join(SCENARIOS)}, all)")
    return out


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser(
        "plan", help="before a run: LLM calls, tokens, cost, cached calls, student tokens and hours (offline)"
    )
    p.add_argument("--scenario", default="all", help="s1..s5, a comma list, or all")
    p.add_argument("--pipelines", default="direct,tft", help="direct,tft (comma list)")
    p.add_argument("--run", default=None, help="run name: outputs/<run>/ (default: run.name)")
    p.add_argument("--seeds", default=None, help="training seeds per arm, e.g. 0,1,2")
    p.add_argument("--out", default=None, help="where to write plan.json (default: outputs/<run>/plan.json)")
    p.add_argument("--budget", type=float, default=None, help="USD: exit 2 when the spend is past it")
    p.add_argument(
        "--measure",
        action="store_true",
        help="time the student's training and prediction on this machine (~2 min on 2 cores) and use "
        "those rates for its hours; kept, so later plans with this machine and recipe use them",
    )
    add_params_args(p)
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args) -> int:
    plan = make_plan(
        args.profile or "cpu",
        scenario_list(args.scenario),
        args.overrides,
        [s.strip() for s in args.pipelines.split(",")],
        args.run,
        [int(s) for s in args.seeds.split(",")] if args.seeds else None,
        log=lambda m: print(m, file=sys.stderr),
        measure=args.measure,
    )
    out = write(plan, args.out or Path(plan.run_dir) / "plan.json")
    print(render(plan))
    print(f"\nplan written to {out} ({plan.seconds} s)")
    why = budget_problem(plan, args.budget)
    if why:
        raise BudgetError(why)
    return 0


__all__ = ["BudgetError", "Plan", "budget_problem", "check_budget", "make_plan", "render", "write"]
