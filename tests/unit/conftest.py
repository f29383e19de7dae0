"""Fixtures shared by unit tests: the smoke model's real SmolLM2 tokenizer, a renderer over the
hand-written tool schema of test_render.py, and the real training pool and test conversations."""

import pytest

from tests.unit.train.test_render import TOOLS
from tft_utils.train.render import Renderer


@pytest.fixture(scope="module")
def tok():
    from tft_utils.train.student import base_model_dir, load_student

    return load_student(base_model_dir("smoke"), "cpu", "float32")[1]


@pytest.fixture(scope="module")
def renderer(tok):
    return Renderer.create(tok, TOOLS)


@pytest.fixture(scope="module")
def pool(dataset_dir):
    """The 327 real training conversations (train_pool.jsonl)."""
    from tft_utils.core.io import read_jsonl

    return read_jsonl(dataset_dir / "train_pool.jsonl")


@pytest.fixture(scope="module")
def test_set(dataset_dir):
    """The 34 test conversations (test.jsonl)."""
    from tft_utils.core.io import read_jsonl

    return read_jsonl(dataset_dir / "test.jsonl")
