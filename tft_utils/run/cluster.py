"""`tft run --cluster ADDRESS`: the study's stages as Ray tasks instead of a loop on this machine.

One task per (stage, scenario), running exactly what a local run runs (`study.run_step`: the freshness
check, papermill, the stamp). Dependencies are the previous step's ObjectRef passed as an argument,
so Ray starts a step only when the one it reads from has finished: 01 first, then each scenario's
02..06 chain (scenarios side by side), then the report after every chain. Every task reads and
writes the same outputs/<run>/ folder, so the cluster's nodes must share it (and the project
checkout, at the same path) - the loopback head of the tests shares this machine's disk.

Faults: a task whose worker dies is retried by Ray (`max_retries`); a rerun of a stage is safe
because every output is written under a temporary name then renamed, and the freshness rule reuses
what the killed attempt had finished. A notebook that raises is not retried (it would raise again).

Ray is an optional extra (`pip install -e .[cluster]`); this module is imported only with --cluster.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time

from tft_utils.core import fresh
from tft_utils.core.io import DataError, write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import REPO, run_paths
from tft_utils.run import study as run

MAX_RETRIES = 2  # a worker killed mid-stage (node lost, OOM): rerun the stage, reusing what it finished
GPU_STAGES = ("05", "06")  # the student's training and prediction
# What the driver's environment tells the stages (data folders, caches, thread counts: the same
# threads give the same floating-point sums, so the same bytes). API keys are not sent through Ray
# (Ray keeps a job's environment in its control store): set them on the worker nodes.
ENV_PREFIXES = ("TFT_", "HF_")
ENV_NAMES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")


class ClusterError(DataError):
    """No Ray, or no cluster at the address: `tft run: error: ...`, exit 2."""


def _import_ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise ClusterError("--cluster needs Ray: pip install -e .[cluster]") from None
    return ray


def resolve_address(address: str) -> str:
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            raise ClusterError("--cluster auto reads RAY_ADDRESS, which is not set")
    return address


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds with a clear line, where ray.init would retry for a minute."""
    hostport = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--cluster {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {e}") from None


def worker_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
    # Workers import tft_utils from the driver's checkout when the node has it at the same path
    # (shared storage, or the loopback head), so every stage runs the driver's code; the task
    # checks the code hash anyway.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def connect(address: str, log=print):
    """Connect to the cluster (or fail with one line) and return the runner for `study.run_study`."""
    ray = _import_ray()
    address = resolve_address(address)
    _probe(address)
    try:
        ray.init(
            address=address,
            runtime_env={"env_vars": worker_env()},
            log_to_driver=False,  # the stages' lines come back in each task's result, above the bar
            logging_level=logging.WARNING,
        )
    except Exception as e:  # ConnectionError, a version mismatch, ...: one line, not a traceback
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {e}") from None
    res = ray.cluster_resources()
    log(f"cluster {address}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs")

    def runner(steps, study, log):
        try:
            run_on_cluster(ray, steps, study, address, log)
        finally:
            ray.shutdown()

    return runner


def resources(stage: run.Stage, device: str, cluster_gpus: float, jobs: int = 1) -> dict:
    """A GPU for a student's training and prediction when it runs on cuda ('auto' means cuda when
    the cluster has one); on CPU, `run.jobs` CPUs for them (that many models side by side, one thread
    each: Ray sets the task's OMP_NUM_THREADS to its CPUs unless the driver's is sent); one CPU for
    every other stage."""
    if stage.key in GPU_STAGES and (device == "cuda" or (device == "auto" and cluster_gpus > 0)):
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": max(1, jobs) if stage.key in GPU_STAGES else 1}


class Board:
    """The steps running now (an actor: tasks report to it, the driver's bar reads it)."""

    def __init__(self):
        self.running = {}

    def started(self, name: str) -> None:
        self.running[name] = time.time()

    def finished(self, name: str) -> None:
        self.running.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self.running, key=self.running.get)


def stage_task(key: str, scenario: str | None, study: run.Study, code: str, board, *upstream) -> dict:
    """Runs on a worker: one step, as a local run would. `upstream` (the results of the steps this
    one reads from) is there only so that Ray starts it after them."""
    import ray

    if fresh.code_hash() != code:
        raise ClusterError(
            f"node {socket.gethostname()} runs other tft_utils code than the driver "
            f"(checkout at {REPO}): install the same commit on every node"
        )
    stage = next(s for s in run.STAGES if s.key == key)
    name = run.step_name(stage, scenario)
    lines: list[str] = []
    board.started.remote(name)
    t0 = time.time()
    try:
        ran = run.run_step(stage, scenario, study, log=lines.append)
    finally:
        board.finished.remote(name)
    ctx = ray.get_runtime_context()
    return {
        "step": name,
        "ran": ran,
        "seconds": round(time.time() - t0, 1),
        "log": lines,
        "node_id": ctx.get_node_id(),
        "task_id": ctx.get_task_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def submit(ray, steps, study: run.Study, board) -> dict:
    """One task per step, each given the refs of the steps it depends on."""
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(stage_task)
    have = ray.cluster_resources()
    gpus, cpus = have.get("GPU", 0), int(have.get("CPU", 1))
    code = fresh.code_hash()
    refs, last = {}, {}  # last: the latest step of each chain (None: the run-wide 01)
    for stage, scenario in steps:
        if stage.scope == "run":
            deps = []
        elif stage.scope == "scenario":
            deps = [r for r in (last.get(scenario, last.get(None)),) if r is not None]
        else:
            deps = list(last.values())
        params = load_params(study.profile, scenario, list(study.overrides))
        device, jobs = params["student"]["device"], min(params["run"]["jobs"], cpus)
        name = run.step_name(stage, scenario)
        ref = task.options(name=name, **resources(stage, device, gpus, jobs)).remote(
            stage.key, scenario, study, code, board, *deps
        )
        refs[ref] = name
        last[scenario if stage.scope == "scenario" else None] = ref
    return refs


def run_on_cluster(ray, steps, study: run.Study, address: str, log) -> None:
    from tqdm.auto import tqdm

    from tft_utils.run.progress import STAGES_FORMAT, Logs, redraw_every

    board = ray.remote(num_cpus=0)(Board).remote()
    # what each step's kernel prints, from where its log ends now (every run of a stage appends to it)
    logs = Logs(
        {
            run.step_name(st, sc): run.kernel_log_path(st, run.stage_dir(st, run_paths(study.run_dir, sc)))
            for st, sc in steps
        }
    )
    refs = submit(ray, steps, study, board)
    bar = tqdm(total=len(refs), desc="cluster", file=sys.stderr, bar_format=STAGES_FORMAT)
    every, last = redraw_every(sys.stderr), 0.0
    records, failures, pending, shown, names = [], [], list(refs), "", []
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=1.0)
        for ref in done:
            try:
                rec = ray.get(ref)
            except ray.exceptions.RayError as e:
                failures.append((refs[ref], _reason(e)))
            else:
                records.append(rec)
                for line in rec["log"]:
                    (bar.write if log is print else log)(line)  # above the bar, not through it
            bar.update(1)
        try:
            now = ray.get(board.names.remote(), timeout=5)
        except ray.exceptions.RayError:
            now = names  # the display only: never fail a run for it
        running = logs.status(now)  # 's1/05_finetune (direct seed 0: train 3/10 [...]), s2/05_finetune'
        # redrawn when another stage starts or ends; a kernel's progress alone: see `every`
        if running != shown and (now != names or time.monotonic() - last >= every):
            bar.set_postfix_str(shown := running)
            names, last = now, time.monotonic()
    bar.close()
    # Which node and worker ran each step: the run's record that the cluster did the work.
    write_json(run_paths(study.run_dir)["run"] / "cluster.json", {"address": address, "tasks": records})
    if failures:
        first = failures[0][1]
        raise DataError(f"{first} ({len(failures)} of {len(refs)} cluster tasks did not finish)")


def _reason(e: Exception) -> str:
    """The stage's own error (StageFailed names the notebook and cell) rather than Ray's wrapper;
    a step whose upstream failed carries that upstream error."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, DataError):
        return str(cause)
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
