"""Fixtures shared by the student's tests (render, train, predict): the smoke model's real SmolLM2
tokenizer and a renderer over the hand-written tool schema of test_render.py."""

import pytest

from tests.unit.test_render import TOOLS
from tft_utils.render import Renderer


@pytest.fixture(scope="module")
def tok():
    from tft_utils.student import base_model_dir, load_student

    return load_student(base_model_dir("smoke"), "cpu", "float32")[1]


@pytest.fixture(scope="module")
def renderer(tok):
    return Renderer.create(tok, TOOLS)
