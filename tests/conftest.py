"""Shared fixtures. `shared_dir` is ../shared beside the checkout (the study's data and the published
benchmark files); tests that need it are skipped with a reason when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.serve_fixture"]

REPO = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Tests spread over workers (make test: pytest -n 2): one thread each, and for every process they start
    # (kernels, `tft`, `transformers serve`), before torch is imported. Two workers of two threads each
    # on 2 cores spin against each other: the suite took more CPU (1275 s of user time
    # against 721 s in one process) and longer than in one process.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:  # imported already (by a plugin): its own pool too
        sys.modules["torch"].set_num_threads(1)


def _find_shared() -> Path | None:
    for cand in (os.environ.get("TFT_SHARED_DIR"), REPO.parent / "shared"):
        if cand and (Path(cand) / "sgd").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _find_shared()
    if path is None:
        pytest.skip("../shared (the SGD subset and benchmark files) is not beside this checkout")
    return path


@pytest.fixture(scope="session")
def sgd_dir(shared_dir) -> Path:
    return shared_dir / "sgd"


@pytest.fixture(scope="session")
def dataset_dir(sgd_dir, tmp_path_factory) -> Path:
    """`tft data` output built once per test session from ../shared/sgd."""
    from tft_utils.data.traces import build_dataset

    out = tmp_path_factory.mktemp("data")
    build_dataset(sgd_dir, out)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tests of the tiny smoke student: one torch thread is several times faster than two on a shared
    2-core CPU. Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def model_cache(tmp_path) -> Path:
    """A models cache of the test's own (`student.cache_dir=`) that already holds the dequantized
    SmolLM2 copy and the smoke model, as hard links to this machine's cache (built there first if
    missing). A test that builds into its own cache then skips the ~30 s dequantization; the copies
    carry their stamps, so the builders still check them and would rebuild a stale one (by rename:
    the linked originals are never written)."""
    import shutil

    from tft_utils.train.student import SMOKE_DIRNAME, SMOLLM2_DIRNAME, cache_root, smoke_dir

    smoke_dir()  # builds SmolLM2's dequantized copy too
    cache = tmp_path / "models"
    for name in (SMOLLM2_DIRNAME, SMOKE_DIRNAME):
        src = cache_root() / name
        try:
            shutil.copytree(src, cache / name, copy_function=os.link)
        except OSError:  # another filesystem: copy
            shutil.rmtree(cache / name, ignore_errors=True)
            shutil.copytree(src, cache / name)
    return cache
