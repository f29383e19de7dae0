"""Student predictions (tft_utils/predict.py): the fast tree-attention path gives exactly what
`generate` gives pair by pair, the output rows, resuming from OUT.partial, and load_pairs errors.

The smoke student has random tied weights and answers every prompt with newlines (an empty
prediction), which would make fast == naive hold trivially; so the comparison is also run on a
variant with a random untied output layer whose end-of-turn row is boosted: its predictions are
arbitrary text of varied lengths, some streams stopping early, exercising the tree decoding.

Exact equality is asserted in float32. In bfloat16 the two paths run the same math on other matrix
shapes, so a near-tie between two tokens (this random head has top-2 gaps down to 0.01 at logits
~20, below bf16's resolution there) may round either way: scripts/bench_predict.py measures that
on the real SmolLM2 (13 of 56 pairs differ in bf16, none in float32)."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.test_render import HAND, HAND_2, TOOLS
from tests.unit.test_train import pairs_of
from tft_utils.io import DataError, read_jsonl, write_jsonl
from tft_utils.params import load_params
from tft_utils.predict import PAIR_FIELDS, _Student, groups, load_pairs, predict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAX_NEW = 16


def _params(dtype: str = "float32", max_new: int = MAX_NEW) -> dict:
    return load_params(
        "smoke", overrides=[{"predict": {"max_new_tokens": max_new}, "student": {"dtype": dtype}}]
    )


@pytest.fixture(scope="module")
def smoke_model():
    from tft_utils.student import base_model_dir

    return base_model_dir("smoke")


@pytest.fixture(scope="module")
def varied_model(smoke_model, tmp_path_factory):
    """The smoke student with a random untied output layer (seeded), end-of-turn row scaled up."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("varied")
    tok = AutoTokenizer.from_pretrained(smoke_model)
    model = AutoModelForCausalLM.from_pretrained(smoke_model, dtype=torch.float32)
    model.config.tie_word_embeddings = False
    head = torch.randn(model.lm_head.weight.shape, generator=torch.Generator().manual_seed(1)) * 0.5
    head[tok.convert_tokens_to_ids("<|im_end|>")] *= 3.0
    model.lm_head.weight = torch.nn.Parameter(head)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def hand_pairs(tmp_path_factory):
    """The pairs of two hand-written conversations, plus one whose question is not a prefix of its
    conversation's longest question (a group of its own)."""
    rows = pairs_of(HAND) + pairs_of(HAND_2)
    odd = next(r for r in rows if r["dialogue_id"] == "hand_1" and r["turn"] == 6)
    question = json.loads(odd["question"])
    question[1] = {"role": "user", "content": "I'd like to eat Mexican food tonight."}
    rows[rows.index(odd)] = {**odd, "question": json.dumps(question)}
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    write_jsonl(path, rows)
    return load_pairs(path)


@pytest.fixture(scope="module")
def real_pairs(dataset_dir):
    """The test pairs of the two test conversations with the fewest turns."""
    pairs = load_pairs(dataset_dir / "test_pairs.jsonl")
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p["dialogue_id"]] = counts.get(p["dialogue_id"], 0) + 1
    keep = sorted(counts, key=lambda d: (counts[d], d))[:2]
    return [p for p in pairs if p["dialogue_id"] in keep]


@pytest.fixture(scope="module")
def real_tools(dataset_dir):
    from tft_utils.train import load_tools

    return load_tools(dataset_dir / "tools.json")


def _predictions(model, pairs, tools, dtype: str, method: str, max_new: int = MAX_NEW) -> list[str]:
    res = predict(model, pairs, _params(dtype, max_new), tools=tools, method=method, progress=False)
    assert res["method"] == method and res["pairs"] == len(pairs)
    return [r["prediction"] for r in res["rows"]]


# --------------------------------------------------------------------------- fast == naive


def test_fast_equals_naive_on_the_smoke_student(smoke_model, hand_pairs):
    # the profile's own dtype (auto: bf16 here); the smoke student's constant answer is no near-tie
    fast = _predictions(smoke_model, hand_pairs, TOOLS, "auto", "fast")
    assert fast == _predictions(smoke_model, hand_pairs, TOOLS, "auto", "naive")


def test_fast_equals_naive_on_the_smoke_student_on_real_pairs(smoke_model, real_pairs, real_tools):
    assert len(groups(real_pairs)) == 2
    fast = _predictions(smoke_model, real_pairs, real_tools, "auto", "fast")
    assert fast == _predictions(smoke_model, real_pairs, real_tools, "auto", "naive")


def test_fast_equals_naive_on_real_pairs(varied_model, real_pairs, real_tools):
    fast = _predictions(varied_model, real_pairs, real_tools, "float32", "fast", max_new=12)
    assert fast == _predictions(varied_model, real_pairs, real_tools, "float32", "naive", max_new=12)
    assert len(set(fast)) >= 3 and len({len(t) for t in fast}) >= 3  # arbitrary, varied text


def test_fast_equals_naive_on_hand_written_pairs(varied_model, hand_pairs):
    assert [len(g) for g in groups(hand_pairs)] == [4, 1, 3]  # the odd pair decoded on its own
    fast = _predictions(varied_model, hand_pairs, TOOLS, "float32", "fast")
    assert fast == _predictions(varied_model, hand_pairs, TOOLS, "float32", "naive")
    assert all(fast) and len(set(fast)) > len(fast) // 2


def test_groups_share_a_conversation_sorted_by_turn(hand_pairs):
    got = [[(r["dialogue_id"], r["turn"]) for r in g] for g in groups(hand_pairs[::-1])]
    assert got == [
        [("hand_2", 1), ("hand_2", 3), ("hand_2", 5)],
        [("hand_1", 2), ("hand_1", 4), ("hand_1", 8), ("hand_1", 10)],
        [("hand_1", 6)],  # its question is not a prefix of turn 10's
    ]


# --------------------------------------------------------------------------- output rows, resume


def test_output_rows_carry_the_pair_and_its_prediction(varied_model, hand_pairs, tmp_path):
    out = tmp_path / "pred.jsonl"
    res = predict(varied_model, hand_pairs, _params(), out=out, tools=TOOLS, progress=False)
    assert len(res["rows"]) == res["pairs"] == len(hand_pairs) and res["pairs_per_s"] > 0
    for row, pair in zip(res["rows"], hand_pairs, strict=True):  # the input order, whatever the groups
        assert set(row) == {"question", "answer", "dialogue_id", "turn", "prediction"}
        assert {k: row[k] for k in PAIR_FIELDS} == {k: pair[k] for k in PAIR_FIELDS}
        assert isinstance(row["prediction"], str)
    assert read_jsonl(out) == res["rows"]
    assert not (tmp_path / "pred.jsonl.partial").exists()


def test_an_interrupted_run_resumes_from_the_partial_file(varied_model, hand_pairs, tmp_path, monkeypatch):
    """Rows already in OUT.partial are kept as they are (here a sentinel text a model never writes);
    a group with any pair missing there is decoded again, whole."""
    fresh = _predictions(varied_model, hand_pairs, TOOLS, "float32", "fast")
    first, second, third = groups(hand_pairs)
    out = tmp_path / "pred.jsonl"
    done = [{k: r[k] for k in PAIR_FIELDS} | {"prediction": "SENTINEL"} for r in first]
    done.append({k: third[0][k] for k in PAIR_FIELDS} | {"prediction": "SENTINEL"})  # group 3 half done
    write_jsonl(str(out) + ".partial", done)

    decoded = []
    real_fast = _Student.fast
    monkeypatch.setattr(_Student, "fast", lambda self, g: decoded.append(g) or real_fast(self, g))
    res = predict(varied_model, hand_pairs, _params(), out=out, tools=TOOLS, progress=False)

    assert [[r["turn"] for r in g] for g in decoded] == [
        [r["turn"] for r in second],
        [r["turn"] for r in third],
    ]
    by_key = {(r["dialogue_id"], r["turn"]): r["prediction"] for r in read_jsonl(out)}
    for pair, text in zip(hand_pairs, fresh, strict=True):
        key = (pair["dialogue_id"], pair["turn"])
        assert by_key[key] == ("SENTINEL" if pair in first else text)
    assert res["pairs"] == len(hand_pairs) and not (tmp_path / "pred.jsonl.partial").exists()


def test_the_saved_render_config_of_a_trained_folder_is_used(smoke_model, tmp_path):
    import shutil

    from tft_utils.train import RENDER_FILE

    folder = tmp_path / "model"
    shutil.copytree(smoke_model, folder)
    with pytest.raises(DataError, match=f"no {RENDER_FILE}"):
        _Student(folder, _params())
    (folder / RENDER_FILE).write_text(
        json.dumps({"tools": TOOLS[:1], "task_prompt": "Book tables.", "native_tools": False})
    )
    student = _Student(folder, _params(), tools=TOOLS)  # the folder's own config wins over `tools`
    assert student.renderer.tools == TOOLS[:1] and student.renderer.task_prompt == "Book tables."
    assert student.renderer.system_text.startswith("<|im_start|>system\nBook tables.\n\nTools")
    with pytest.raises(ValueError, match="fast or naive"):
        predict(folder, [], _params(), method="beam")


# --------------------------------------------------------------------------- load_pairs errors

GOOD = json.dumps(
    {
        "dialogue_id": "d",
        "turn": 1,
        "question": json.dumps([{"role": "user", "content": "hi"}]),
        "answer": "{}",
    }
)


@pytest.mark.parametrize(
    "lines, error",
    [
        ([GOOD, "{not json"], ":2: not valid JSON"),
        ([GOOD, "[1, 2]"], ":2: expected a JSON object"),
        (
            [GOOD, json.dumps({"dialogue_id": "d", "question": "[]", "answer": "{}"})],
            ":2: missing field.*turn",
        ),
        (
            [GOOD, json.dumps({"dialogue_id": "d", "turn": 0, "question": "[oops", "answer": "{}"})],
            ":2: field question is not a JSON list",
        ),
        (
            [GOOD, json.dumps({"dialogue_id": "d", "turn": 3, "question": "[]", "answer": "{}"})],
            r":2: question must hold exactly `turn` \(3\)",
        ),
        (
            [GOOD, "", json.dumps({"dialogue_id": "d", "turn": 3, "question": "[]", "answer": "{}"})],
            ":3: question must hold",
        ),
    ],
    ids=["json", "object", "field", "question-json", "question-length", "after-blank-line"],
)
def test_load_pairs_names_file_and_line(tmp_path, lines, error):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape(str(path)) + error):
        load_pairs(path)
