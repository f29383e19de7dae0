"""`tft run --scenario s1,s2 --profile smoke --cluster 127.0.0.1:PORT` against a Ray head started on
loopback for this module (issue 15): the outputs and the report exist, Ray ran every stage, and a
local run of the same seed gives the same bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tft_utils.core.paths import REPO

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="Ray (the cluster extra: pip install -e .[cluster]) is not installed")

SCENARIOS = ("s1", "s2")
# Same threads in both runs (the driver passes its OMP/MKL settings to the tasks): the same float sums.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# What may differ between two runs of the same seed: when and how fast (provenance, timings); the
# executed notebooks and stage records hold only such things and the outputs they describe.
VOLATILE = {"provenance", "created", "finished", "seconds", "wall_seconds", "tokens_per_s", "pairs_per_s"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(sgd_dir):
    """A one-node Ray cluster with 2 CPUs on 127.0.0.1, in its own temp dir and process group, so
    stopping it ends only what it started (never `ray stop`, which ends every Ray on the machine)."""
    for _ in range(3):  # a loaded 2-core box can miss one of Ray's startup deadlines
        head, address, log = start_head(sgd_dir)
        if address:
            break
        stop_head(*head)
    else:
        pytest.fail(f"the Ray head did not start in 3 attempts; the last said:\n{log[-3000:]}")
    try:
        yield address
    finally:
        stop_head(*head)


def start_head(sgd_dir) -> tuple[tuple[subprocess.Popen, Path], str | None, str]:
    tmp = Path(tempfile.mkdtemp(prefix="tft-ray-", dir="/tmp"))  # short: Ray's socket paths are bounded
    # The head's Python processes skip jsonschema's optional IRI checker: rfc3987_syntax compiles a
    # grammar for ~4 s of CPU on import, each of the head's five Python helpers imports it (through
    # `import ray`), and the raylet aborts when its agents take over 15 s to start - which on a busy
    # 2-core machine they did, every time.
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(
        'import sys\nsys.modules.setdefault("rfc3987_syntax", None)\n'
    )
    env = dict(os.environ, TFT_SGD_DIR=str(sgd_dir), RAY_USAGE_STATS_ENABLED="0", **THREADS)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp / "site"), env.get("PYTHONPATH")) if p)
    port = free_port()
    cmd = [Path(sys.executable).with_name("ray"), "start", "--head", "--block"]
    cmd += ["--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2", "--num-gpus", "0"]
    cmd += [
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--no-monitor",
        "--temp-dir",
        str(tmp / "ray"),
    ]
    cmd += ["--ray-client-server-port", str(free_port())]  # not the default 10001: another Ray may hold it
    log = tmp / "head.log"
    with open(log, "w") as out:
        head = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 180
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None or time.time() > deadline:
            return (head, tmp), None, log.read_text()
        time.sleep(0.5)
    return (head, tmp), f"127.0.0.1:{port}", ""


def stop_head(head: subprocess.Popen, tmp: Path) -> None:
    head.terminate()  # --block: the head stops its raylet, GCS and workers on SIGTERM
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        pass
    for pid in (int(d) for d in os.listdir("/proc") if d.isdigit()):
        try:  # whatever is left of ours: the processes of the session the head started, only
            if os.getsid(pid) == head.pid:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(tmp, ignore_errors=True)


def tft(*args: str, sgd_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TFT_SGD_DIR=str(sgd_dir), **THREADS)
    return subprocess.run(
        [sys.executable, "-m", "tft_utils", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def cluster_run(ray_head, sgd_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster")
    t0 = time.time()
    p = tft("run", "--scenario", ",".join(SCENARIOS), "--profile", "smoke", "--run", "study",
            "--cluster", ray_head, "-p", f"run.outputs={out}", sgd_dir=sgd_dir)  # fmt: skip
    seconds = time.time() - t0
    assert p.returncode == 0, p.stderr[-4000:]
    print(f"\ncluster run of {','.join(SCENARIOS)} (smoke): {seconds:.0f} s")
    return out / "study", p.stderr


def test_outputs_and_report_exist(cluster_run):
    run_dir, _ = cluster_run
    for s in SCENARIOS:
        assert json.loads((run_dir / s / "results.json").read_text())["scenario"] == s
        assert len(list((run_dir / s / "notebooks").glob("0[2-6]_*.ipynb"))) == 5
    for name in ("table.md", "table.csv", "report.html"):
        assert (run_dir / "report" / name).stat().st_size > 0, name
    assert not list(run_dir.rglob("*.FAILED.ipynb")) and not list(run_dir.rglob("*.running.ipynb"))


def test_ray_ran_every_stage(cluster_run):
    """Each task's record is made inside a Ray worker (its runtime context): node, task, pid."""
    run_dir, stderr = cluster_run
    tasks = json.loads((run_dir / "cluster.json").read_text())["tasks"]
    steps = {t["step"] for t in tasks}
    assert len(tasks) == 12 and "run/01_data" in steps and "report/07_report" in steps
    assert {f"{s}/0{k}" for s in SCENARIOS for k in range(2, 7)} <= {t["step"][:5] for t in tasks}
    assert all(t["ran"] and len(t["task_id"]) > 16 for t in tasks)
    assert len({t["node_id"] for t in tasks}) == 1  # the one loopback node
    assert os.getpid() not in {t["pid"] for t in tasks}
    assert "12/12" in stderr  # the one progress bar over the cluster's tasks reached the end


def test_a_second_cluster_run_skips_every_stage(ray_head, cluster_run, sgd_dir):
    run_dir, _ = cluster_run
    p = tft("run", "--scenario", ",".join(SCENARIOS), "--profile", "smoke", "--run", "study",
            "--cluster", ray_head, "-p", f"run.outputs={run_dir.parent}", sgd_dir=sgd_dir)  # fmt: skip
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.count("[skip]") == 12, p.stdout[-4000:]


def comparable(path: Path) -> bytes:
    """A file's bytes, less what says when and how fast it was made."""
    if path.suffix == ".json":
        return json.dumps(_strip(json.loads(path.read_text(encoding="utf-8"))), sort_keys=True).encode()
    if path.name == "README.md":  # a model card: its '- **Time**: 0.4 s at ... tokens/s' line
        lines = path.read_text(encoding="utf-8").splitlines()
        return "\n".join(line for line in lines if not line.startswith("- **Time**")).encode()
    return path.read_bytes()


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_same_seed_same_bytes_as_a_local_run(cluster_run, sgd_dir):
    """s1 run locally (stages 01-06) in the very folder the cluster wrote (moved aside first, so
    every path and fingerprint is comparable): its data, traces, cleaned and synthetic sets,
    students, predictions and scores are the same files. Last in this module: it moves the run."""
    run_dir, _ = cluster_run
    on_cluster = run_dir.rename(run_dir.with_name("study-on-cluster"))
    t0 = time.time()
    p = tft("run", "--scenario", "s1", "--profile", "smoke", "--run", "study",
            "--stages", "01,02,03,04,05,06", "-p", f"run.outputs={run_dir.parent}", sgd_dir=sgd_dir)  # fmt: skip
    assert p.returncode == 0, p.stderr[-4000:]
    print(f"\nlocal run of s1 (smoke, stages 01-06): {time.time() - t0:.0f} s")
    files = [
        f.relative_to(run_dir)
        for f in sorted(run_dir.rglob("*"))
        if f.is_file()
        and not {"notebooks", "stages"} & set(f.relative_to(run_dir).parts)
        and f.name != "plan.json"  # what the last tft run (all scenarios there, s1 here) estimated
    ]
    assert {".jsonl", ".safetensors", ".json", ".md"} <= {f.suffix for f in files} and len(files) > 50
    assert [str(f) for f in files if comparable(run_dir / f) != comparable(on_cluster / f)] == []
