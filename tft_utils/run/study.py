"""`tft run`: the study as a chain of papermill-executed notebooks, per scenario.

    outputs/<run>/data/                 01: train pool, test set, test pairs, tools (shared by scenarios)
    outputs/<run>/<sN>/                 02..06: traces, clean/, synth/, models/, predictions/, results.json
    outputs/<run>/report/               07: the study's table, figures, HTML
    .../notebooks/NN_name.ipynb         the executed copies; .../stages/NN.json what each run of a stage saw

A stage is skipped when its fingerprint (notebook source, resolved params, package code, the
fingerprints of the stages it reads from; `tft_utils.core.fresh`) equals the one recorded beside its
executed notebook; inside a stage every output (students, predictions, synthetic set, ...) follows
the same rule. `--force` rebuilds everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tft_utils.core import fresh
from tft_utils.core.io import DataError, write_json
from tft_utils.core.params import SCENARIOS, load_params
from tft_utils.core.paths import REPO, run_paths
from tft_utils.core.provenance import provenance
from tft_utils.run.lock import run_lock

NOTEBOOKS = REPO / "notebooks"


class StageFailed(DataError):
    """A notebook raised; the message names the stage, the cell and the executed copy to read."""


@dataclass(frozen=True)
class Stage:
    key: str  # "01"
    notebook: str  # "01_data"
    scope: str  # run | scenario | report
    pipelines: tuple = ("direct", "tft")  # the stage runs when any of these is asked for


STAGES = (
    Stage("01", "01_data", "run"),
    Stage("02", "02_scenarios", "scenario"),
    Stage("03", "03_filter_relabel", "scenario", ("tft",)),
    Stage("04", "04_synthesize", "scenario", ("tft",)),
    Stage("05", "05_finetune", "scenario"),
    Stage("06", "06_evaluate", "scenario"),
    Stage("07", "07_report", "report"),
)


def stage_dir(stage: Stage, paths: dict) -> Path:
    return {"run": paths["data"], "scenario": paths.get("scenario"), "report": paths["report"]}[stage.scope]


def executed_path(stage: Stage, where: Path) -> Path:
    return where / "notebooks" / f"{stage.notebook}.ipynb"


def kernel_log_path(stage: Stage, where: Path) -> Path:
    """`NN_name.kernel.log` beside the executed notebook, where its kernel prints (kernel_log)."""
    return executed_path(stage, where).with_suffix(".kernel.log")


def upstream_paths(stage: Stage, run_dir: Path, scenario: str | None, scenarios: list[str]) -> dict:
    """The executed notebooks of the stages this one reads from (their fingerprints are its inputs)."""
    out = {}
    for up in STAGES:
        if up.key >= stage.key:
            break
        if up.scope == "run":
            out[up.key] = executed_path(up, run_paths(run_dir)["data"])
        elif stage.scope == "scenario":
            out[f"{up.key}/{scenario}"] = executed_path(up, run_paths(run_dir, scenario)["scenario"])
        elif stage.scope == "report":
            for s in scenarios:
                out[f"{up.key}/{s}"] = executed_path(up, run_paths(run_dir, s)["scenario"])
    return out


# The parameter sections each notebook reads (its own and its package calls'); the report reads all.
# A change elsewhere does not rerun the stage: its inputs' fingerprints carry what it depends on.
STAGE_PARAMS = {
    "01": ("data",),
    "02": ("data", "scenario"),
    "03": ("data", "filter", "align", "relabel", "roles", "backends"),
    "04": ("data", "synth", "validate", "roles", "backends"),
    "05": ("data", "student", "train"),
    "06": ("data", "student", "predict", "evaluate", "roles", "backends"),
}
RUN_KEYS = ("profile", "seed", "seeds")  # run.name, outputs and force say where and how, not what


def stage_fingerprint(stage: Stage, params: dict, parameters: dict, upstream: dict) -> dict:
    """A stage's fingerprint: its notebook, the params it reads, the notebook's parameters, the
    upstream stages' fingerprints, the package code its cells import (`notebook_code`)."""
    sections = STAGE_PARAMS.get(stage.key, tuple(k for k in params if k != "run"))
    own = {k: params[k] for k in sections} | {"run": {k: params["run"][k] for k in RUN_KEYS}}
    notebook = NOTEBOOKS / f"{stage.notebook}.ipynb"
    return fresh.make(
        f"stage:{stage.notebook}",
        {**own, "notebook_parameters": parameters},  # why_stale then says 'changed: params.run.seeds'
        {"notebook": notebook, **upstream},
        code=notebook_code(notebook) or True,
    )


def notebook_code(path: Path) -> tuple[str, ...] | None:
    """The package modules a notebook runs: those its code cells import and everything they import
    (`fresh.code_of_source`), so an edit of the report reruns 07 alone and one of `tft run` itself (run/,
    plan/, the CLI) reruns nothing; None (the whole package) when a cell is not plain Python."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return fresh.code_of_source("\n\n".join(cells), str(path))


@contextlib.contextmanager
def kernel_log(path: Path):
    """Send what the notebook's kernel prints to `path` beside the executed notebook, not to the user's
    terminal: ipykernel's 'Kernel is running over TCP without encryption' warning, once per stage, and
    the echo of its cells' output and text progress bars (run/progress.py, which reads them from there).
    The kernel inherits file descriptors 1 and 2, so they are pointed there while it runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def execute(stage: Stage, where: Path, parameters: dict, log=print, show=None) -> Path:
    """Run one notebook with papermill into `where/notebooks/`, atomically; `show(status)` is told
    what its kernel is doing while it runs (run/progress.py)."""
    from tft_utils.core.imports import without_iri_formats

    without_iri_formats()  # ~1.2 s less to import papermill (nbformat, jsonschema)
    import papermill as pm

    from tft_utils.run.progress import KERNEL_ARGS, Watch, coalesce

    src = NOTEBOOKS / f"{stage.notebook}.ipynb"
    dst = executed_path(stage, where)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.running.ipynb")
    klog = kernel_log_path(stage, where)
    watch = Watch(klog, show) if show else contextlib.nullcontext()
    try:
        with kernel_log(klog), watch:
            pm.execute_notebook(
                str(src),
                str(tmp),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(REPO),
                progress_bar=False,
                log_output=False,
                extra_arguments=list(KERNEL_ARGS),
            )
    except pm.PapermillExecutionError as e:
        failed = dst.with_name(f"{stage.notebook}.FAILED.ipynb")
        coalesce(tmp)
        tmp.replace(failed)
        raise StageFailed(
            f"stage {stage.notebook} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"  executed copy with the traceback: {failed}"
        ) from None
    coalesce(tmp)
    tmp.replace(dst)
    return dst


def plan(
    scenarios: list[str], pipelines: list[str], stages: list[str] | None
) -> list[tuple[Stage, str | None]]:
    steps: list[tuple[Stage, str | None]] = []
    for stage in STAGES:
        if stages and stage.key not in stages:
            continue
        if not set(stage.pipelines) & set(pipelines):
            continue
        if stage.scope == "scenario":
            steps += [(stage, s) for s in scenarios]
        else:
            steps.append((stage, None))
    # Scenario by scenario (02..06 for s1, then s2, ...), so a finished scenario is complete early.
    order = {None: -1, **{s: i for i, s in enumerate(scenarios)}}
    return sorted(steps, key=lambda st: (st[0].scope == "report", order[st[1]], st[0].key))


@dataclass(frozen=True)
class Study:
    """What every step of one `tft run` shares (picklable: a cluster task gets a copy)."""

    profile: str
    run: str
    run_dir: Path
    overrides: tuple
    pipelines: tuple
    scenarios: tuple
    force: bool


def run_study(
    scenarios: list[str],
    profile: str = "cpu",
    run: str | None = None,
    pipelines=("direct", "tft"),
    overrides=(),
    stages: list[str] | None = None,
    force: bool = False,
    seeds: list[int] | None = None,
    log=print,
    wait: bool = False,
    cluster: str | None = None,
) -> Path:
    base = load_params(profile, None, overrides)
    run = run or base["run"]["name"]
    run_dir = Path(base["run"]["outputs"]) / run
    overrides = list(overrides)
    if seeds:
        overrides.append(f"run.seeds={json.dumps(seeds)}")
    if force:
        overrides.append("run.force=true")  # every output's own reuse check sees it too
    steps = plan(scenarios, list(pipelines), stages)
    study = Study(profile, run, run_dir, tuple(overrides), tuple(pipelines), tuple(scenarios), force)
    if cluster:  # imported only here: without --cluster, Ray is never imported
        from tft_utils.run import cluster as ray_cluster

        runner = ray_cluster.connect(cluster, log=log)
    else:
        runner = _run_steps
    started = time.time()
    with run_lock(run_dir, wait=wait, log=log):
        runner(steps, study, log)
    log(f"study finished in {(time.time() - started) / 60:.1f} min -> {run_dir}")
    return run_dir


def step_name(stage: Stage, scenario: str | None) -> str:
    return f"{scenario or stage.scope}/{stage.notebook}"


def _run_steps(steps, study: Study, log) -> None:
    from tqdm.auto import tqdm

    from tft_utils.run.progress import STAGES_FORMAT, redraw_every

    with terminal() as term:
        bar = tqdm(steps, desc="study", file=term, bar_format=STAGES_FORMAT)
        tty = term.isatty()
        every, last = redraw_every(term), [0.0]

        def show(status: str) -> None:  # the running stage's progress, beside the study's
            due = time.monotonic() - last[0] >= every
            bar.set_postfix_str(status, refresh=due)
            last[0] = time.monotonic() if due else last[0]

        def say(message: str) -> None:  # a line of its own above the bar, not written into it
            if tty:
                bar.clear()
            else:  # a log file: the bar's last line ends before the message
                print(file=term, flush=True)
            log(message)
            if tty:
                bar.refresh()

        for stage, scenario in bar:
            bar.set_description(step_name(stage, scenario))
            run_step(stage, scenario, study, say, show=show)
            bar.set_postfix_str("", refresh=False)  # the next stage starts without this one's


@contextlib.contextmanager
def terminal():
    """Where the study's bar goes: a copy of stderr's descriptor, which still points at the terminal
    while a stage's kernel writes descriptors 1 and 2 to its log (kernel_log)."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # a stderr without a descriptor (captured in a test)
        yield sys.stderr
        return
    with os.fdopen(fd, "w", buffering=1) as f:
        yield f


def run_step(stage: Stage, scenario: str | None, study: Study, log=print, show=None) -> bool:
    """One stage of one scenario: skipped when its fingerprint is unchanged, else executed and
    stamped (`show`: told the kernel's progress meanwhile). True when it ran. Reads only files, so a
    cluster task runs it the same way."""
    run_dir = study.run_dir
    params = load_params(study.profile, scenario, list(study.overrides), run_dir=run_dir)
    paths = run_paths(run_dir, scenario)
    where = stage_dir(stage, paths)
    parameters = {
        "PROFILE": study.profile,
        "RUN_DIR": str(run_dir),
        "OVERRIDES": list(study.overrides),
        "PIPELINES": list(study.pipelines),
        "SCENARIOS": list(study.scenarios),
    }
    if scenario:
        parameters["SCENARIO"] = scenario
    upstream = upstream_paths(stage, run_dir, scenario, list(study.scenarios))
    # OVERRIDES are in params already; the scenario list matters only to the report
    shown = {k: v for k, v in parameters.items() if k != "OVERRIDES"}
    if stage.scope != "report":
        shown.pop("SCENARIOS")
    fp = stage_fingerprint(stage, params, shown, upstream)
    name = step_name(stage, scenario)
    if fresh.reuse(executed_path(stage, where), fp, study.force):
        log(f"[skip] {name}: unchanged since {fresh.read(executed_path(stage, where)).get('finished')}")
        return False
    log(f"[run] {name}: {fresh.why_stale(executed_path(stage, where), fp) if not study.force else 'forced'}")
    t0 = time.time()
    executed = execute(stage, where, parameters, log=log, show=show)
    if stage.scope == "report":
        from tft_utils.report.tables import export_html

        log(f"report: {export_html(executed, where / 'report.html')}")
    seconds = round(time.time() - t0, 1)
    finished = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(
        where / "stages" / f"{stage.key}.json",
        {
            "stage": stage.notebook,
            "scenario": scenario,
            "fingerprint": fp["digest"],
            "seconds": seconds,
            "finished": finished,
            "provenance": provenance(params),
        },
    )
    fresh.stamp(executed, {**fp, "finished": finished, "seconds": seconds})
    return True


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("run", help="run the study's notebooks with papermill (per scenario)")
    p.add_argument("--scenario", default="all", help="s1..s5, a comma list, or all")
    p.add_argument("--pipelines", default="direct,tft", help="direct,tft (comma list)")
    p.add_argument("--run", default=None, help="run name: outputs/<run>/ (default: run.name)")
    p.add_argument("--stages", default=None, help="comma list of stage numbers, e.g. 01,02")
    p.add_argument("--seeds", default=None, help="training seeds per arm, e.g. 0,1,2")
    p.add_argument("--force", action="store_true", help="rerun stages even when their inputs are unchanged")
    p.add_argument("--wait", action="store_true", help="wait for another run writing the same folder to end")
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="run the stages as tasks on a Ray cluster (host:port, ray://..., or auto for RAY_ADDRESS)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="USD: ask before spending past it (not interactive: refuse)",
    )
    p.add_argument("--yes", action="store_true", help="run even when the plan's spend is past --budget")
    add_params_args(p)
    p.set_defaults(func=_cmd_run)


def show_plan(args, scenarios: list[str], pipelines: list[str], stages, seeds, log=print) -> None:
    """Before a run that calls endpoints (or has a --budget): print the plan of what it will call,
    send and cost (`tft_utils.plan.estimate`), write it to outputs/<run>/plan.json, and stop with BudgetError
    when the spend is past --budget and nobody said yes. Before any other run that trains or predicts
    students: one line of the plan, their work left and its hours."""
    from tft_utils.plan import estimate as planning
    from tft_utils.plan.inputs import is_endpoint
    from tft_utils.plan.show import summary

    profile = args.profile or "cpu"
    roles = [load_params(profile, s, args.overrides)["roles"] for s in scenarios]
    specs = [spec for r in roles for v in r.values() for spec in (v if isinstance(v, list) else [v])]
    spends = not stages or {"03", "04", "05", "06"} & set(stages)  # 01, 02, 07 call no model
    full = args.budget is not None or (spends and any(is_endpoint(spec) for spec in specs))
    students = not stages or {"05", "06"} & set(stages)  # trains or predicts them
    if not (full or students):
        return
    try:
        plan = planning.make_plan(
            profile, scenarios, args.overrides, pipelines, args.run, seeds, stages=stages
        )
    except DataError as e:
        if args.budget is not None:
            raise DataError(f"no plan, so --budget cannot be checked: {e}") from None
        log(f"plan: not made ({e})")
        return
    path = planning.write(plan, Path(plan.run_dir) / "plan.json")
    if not full:
        log(summary(plan))
        return
    log(planning.render(plan))
    log(f"plan written to {path}")
    planning.check_budget(plan, args.budget, args.yes)


def _cmd_run(args) -> int:
    scenarios = (
        list(SCENARIOS) if args.scenario == "all" else [s.strip().lower() for s in args.scenario.split(",")]
    )
    for s in scenarios:
        if s not in SCENARIOS:
            raise FileNotFoundError(f"unknown scenario '{s}' (choose from {', '.join(SCENARIOS)}, all)")
    pipelines = [p.strip() for p in args.pipelines.split(",")]
    stages = args.stages.split(",") if args.stages else None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    show_plan(args, scenarios, pipelines, stages, seeds)
    run_study(
        scenarios,
        args.profile or "cpu",
        args.run,
        pipelines,
        args.overrides,
        stages,
        args.force,
        seeds,
        wait=args.wait,
        cluster=args.cluster,
    )
    return 0
