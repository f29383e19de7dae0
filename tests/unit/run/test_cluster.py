"""`tft run --cluster` without a cluster: the errors, the resource requests, the task graph, and that
a run without --cluster never imports Ray. The run through a real (loopback) Ray head is
tests/notebooks/test_cluster_chain.py."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tft_utils import cli
from tft_utils.core.paths import REPO
from tft_utils.run import cluster
from tft_utils.run import study as run

ARGS = ["run", "--scenario", "s1", "--profile", "smoke", "--stages", "01"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


def test_without_ray_the_error_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ModuleNotFoundError
    rc = cli.main(ARGS + ["--cluster", "127.0.0.1:6379", "-p", f"run.outputs={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "tft run: error: --cluster needs Ray: pip install -e .[cluster]"
    assert not (tmp_path / "main").exists()  # refused before taking the run folder


def test_an_unreachable_address_is_one_line(monkeypatch, capsys, tmp_path):
    pytest.importorskip("ray", reason="Ray (the cluster extra) is not installed")
    port = closed_port()
    rc = cli.main(ARGS + ["--cluster", f"127.0.0.1:{port}", "-p", f"run.outputs={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"tft run: error: cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert "\n" not in err


def test_auto_reads_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(cluster.ClusterError, match="RAY_ADDRESS"):
        cluster.resolve_address("auto")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert cluster.resolve_address("auto") == "10.0.0.5:6379"
    with pytest.raises(cluster.ClusterError, match="HOST:PORT"):
        cluster._probe("nohost")


def test_a_run_without_cluster_never_imports_ray(tmp_path):
    code = (
        "import sys; from tft_utils.run import study as r; r._run_steps = lambda *a: None; "
        f"r.run_study(['s1'], 'smoke', run='x', overrides=['run.outputs={tmp_path}'], log=lambda *a: None); "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_gpu_only_for_a_cuda_students_training_and_prediction():
    by_key = {s.key: s for s in run.STAGES}
    assert cluster.resources(by_key["05"], "cuda", 0) == {"num_cpus": 1, "num_gpus": 1}
    assert cluster.resources(by_key["06"], "auto", 8) == {"num_cpus": 1, "num_gpus": 1}
    assert cluster.resources(by_key["06"], "auto", 0) == {"num_cpus": 1}
    assert cluster.resources(by_key["05"], "cpu", 8) == {"num_cpus": 1}
    assert cluster.resources(by_key["04"], "cuda", 8) == {"num_cpus": 1}
    # run.jobs 2 on CPU: the student stages ask for a CPU per model they run side by side
    assert cluster.resources(by_key["05"], "cpu", 0, 2) == {"num_cpus": 2}
    assert cluster.resources(by_key["06"], "cuda", 0, 2) == {"num_cpus": 1, "num_gpus": 1}
    assert cluster.resources(by_key["04"], "cpu", 0, 2) == {"num_cpus": 1}


class FakeRay:
    """Records what `submit` asks of Ray: each task's name, resources and the refs it waits for."""

    def __init__(self):
        self.calls = []

    def cluster_resources(self):
        return {"CPU": 2.0}

    def remote(self, **kw):
        fake = self

        class Task:
            def options(self, **opts):
                self.opts = opts
                return self

            def remote(self, key, scenario, study, code, board, *deps):
                fake.calls.append((self.opts["name"], self.opts, [d for d in deps]))
                return self.opts["name"]  # the "ref" is the step's name

        return lambda fn: Task()


def test_each_step_waits_for_the_one_it_reads_from(tmp_path):
    steps = run.plan(["s1", "s2"], ["direct", "tft"], None)
    study = run.Study("smoke", "x", tmp_path, (), ("direct", "tft"), ("s1", "s2"), False)
    fake = FakeRay()
    refs = cluster.submit(fake, steps, study, board=None)
    deps = {name: d for name, _, d in fake.calls}
    assert len(refs) == len(steps) == 12
    assert deps["run/01_data"] == []
    assert deps["s1/02_scenarios"] == ["run/01_data"] and deps["s2/02_scenarios"] == ["run/01_data"]
    assert deps["s2/05_finetune"] == ["s2/04_synthesize"]
    assert sorted(deps["report/07_report"]) == ["run/01_data", "s1/06_evaluate", "s2/06_evaluate"]
    assert all(opts["num_cpus"] == 1 and "num_gpus" not in opts for _, opts, _ in fake.calls)
