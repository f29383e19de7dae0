"""`tft run`: the study as a chain of papermill-executed notebooks, per scenario.

    outputs/<run>/data/                 01: train pool, test set, test pairs, tools (shared by scenarios)
    outputs/<run>/<sN>/                 02..06: traces, clean/, synth/, models/, predictions/, results.json
    outputs/<run>/report/               07: the study's table, figures, HTML
    .../notebooks/NN_name.ipynb         the executed copies; .../stages/NN.json what each run of a stage saw

A stage is skipped when its content hash (notebook source, resolved params, package code, the hashes
of the stages it reads from) equals the one recorded when it last finished; `--force` reruns it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tft_utils.io import DataError, write_json
from tft_utils.params import SCENARIOS, load_params
from tft_utils.provenance import provenance

REPO = Path(__file__).resolve().parent.parent
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


def run_paths(run_dir: str | Path, scenario: str | None = None) -> dict:
    """Every path a notebook reads or writes, from the run folder (relative to the repo root)."""
    run_dir = Path(run_dir)
    run_dir = run_dir if run_dir.is_absolute() else REPO / run_dir
    p = {"run": run_dir, "data": run_dir / "data", "report": run_dir / "report"}
    if scenario:
        s = run_dir / scenario
        p.update(
            scenario=s,
            traces=s / "traces.jsonl",
            corruptions=s / "corruptions.jsonl",
            direct_train=s / "direct_train.jsonl",
            clean=s / "clean",
            synth=s / "synth",
            models=s / "models",
            predictions=s / "predictions",
            results=s / "results.json",
        )
    return p


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def code_hash() -> str:
    return _sha(*(p.read_bytes() for p in sorted((REPO / "tft_utils").rglob("*.py"))))


def stage_dir(stage: Stage, paths: dict) -> Path:
    return {"run": paths["data"], "scenario": paths.get("scenario"), "report": paths["report"]}[stage.scope]


def stage_hash(stage: Stage, params: dict, upstream: list[str], code: str) -> str:
    nb = (NOTEBOOKS / f"{stage.notebook}.ipynb").read_bytes()
    return _sha(
        nb,
        json.dumps(params, sort_keys=True, default=str).encode(),
        code.encode(),
        *(u.encode() for u in upstream),
    )


def _record(stage: Stage, where: Path) -> dict | None:
    path = where / "stages" / f"{stage.key}.json"
    return json.loads(path.read_text()) if path.exists() else None


def execute(stage: Stage, where: Path, parameters: dict, log=print) -> Path:
    """Run one notebook with papermill into `where/notebooks/`, atomically."""
    import papermill as pm

    src = NOTEBOOKS / f"{stage.notebook}.ipynb"
    dst = where / "notebooks" / f"{stage.notebook}.ipynb"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.running.ipynb")
    try:
        pm.execute_notebook(
            str(src),
            str(tmp),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(REPO),
            progress_bar=False,
            log_output=False,
        )
    except pm.PapermillExecutionError as e:
        failed = dst.with_name(f"{stage.notebook}.FAILED.ipynb")
        tmp.replace(failed)
        raise StageFailed(
            f"stage {stage.notebook} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"  executed copy with the traceback: {failed}"
        ) from None
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
) -> Path:
    from tqdm.auto import tqdm

    base = load_params(profile, None, overrides)
    run = run or base["run"]["name"]
    run_dir = Path(base["run"]["outputs"]) / run
    overrides = list(overrides)
    if seeds:
        overrides.append(f"run.seeds={json.dumps(seeds)}")
    code = code_hash()
    hashes: dict[tuple, str] = {}
    steps = plan(scenarios, list(pipelines), stages)
    started = time.time()
    bar = tqdm(steps, desc="study", unit="stage", file=sys.stderr)
    for stage, scenario in bar:
        bar.set_description(f"{scenario or stage.scope}/{stage.notebook}")
        params = load_params(profile, scenario, overrides)
        params["run"]["name"] = run
        paths = run_paths(run_dir, scenario)
        where = stage_dir(stage, paths)
        upstream = [
            h
            for (k, s), h in hashes.items()
            if k < stage.key and (s == scenario or s is None or stage.scope == "report")
        ]
        digest = stage_hash(stage, params, upstream, code)
        hashes[(stage.key, scenario)] = digest
        rec = _record(stage, where)
        if not force and rec and rec.get("hash") == digest:
            log(f"[skip] {scenario or stage.scope}/{stage.notebook}: unchanged since {rec['finished']}")
            continue
        parameters = {
            "PROFILE": profile,
            "RUN_DIR": str(run_dir),
            "OVERRIDES": overrides,
            "PIPELINES": list(pipelines),
            "SCENARIOS": list(scenarios),
        }
        if scenario:
            parameters["SCENARIO"] = scenario
        t0 = time.time()
        executed = execute(stage, where, parameters, log=log)
        if stage.scope == "report":
            from tft_utils.report import export_html

            log(f"report: {export_html(executed, where / 'report.html')}")
        write_json(
            where / "stages" / f"{stage.key}.json",
            {
                "stage": stage.notebook,
                "scenario": scenario,
                "hash": digest,
                "seconds": round(time.time() - t0, 1),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "provenance": provenance(params),
            },
        )
    log(f"study finished in {(time.time() - started) / 60:.1f} min -> {run_dir}")
    return run_dir


def add_cli(subparsers) -> None:
    from tft_utils import cli

    p = subparsers.add_parser("run", help="run the study's notebooks with papermill (per scenario)")
    p.add_argument("--scenario", default="all", help="s1..s5, a comma list, or all")
    p.add_argument("--pipelines", default="direct,tft", help="direct,tft (comma list)")
    p.add_argument("--run", default=None, help="run name: outputs/<run>/ (default: run.name)")
    p.add_argument("--stages", default=None, help="comma list of stage numbers, e.g. 01,02")
    p.add_argument("--seeds", default=None, help="training seeds per arm, e.g. 0,1,2")
    p.add_argument("--force", action="store_true", help="rerun stages even when their inputs are unchanged")
    cli.add_params_args(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    scenarios = (
        list(SCENARIOS) if args.scenario == "all" else [s.strip().lower() for s in args.scenario.split(",")]
    )
    for s in scenarios:
        if s not in SCENARIOS:
            raise FileNotFoundError(f"unknown scenario '{s}' (choose from {', '.join(SCENARIOS)}, all)")
    run_study(
        scenarios,
        args.profile or "cpu",
        args.run,
        [p.strip() for p in args.pipelines.split(",")],
        args.overrides,
        args.stages.split(",") if args.stages else None,
        args.force,
        [int(s) for s in args.seeds.split(",")] if args.seeds else None,
    )
    return 0
