"""Shared fixtures. `shared_dir` is ../shared beside the checkout (the study's data and the published
benchmark files); tests that need it are skipped with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.serve_fixture"]

REPO = Path(__file__).resolve().parent.parent


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
