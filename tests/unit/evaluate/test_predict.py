"""Student predictions (tft_utils/evaluate/predict.py): the fast batched path (several conversations decoded
together, each conversation read once) gives exactly what `generate` gives pair by pair, whatever
the batch (one stream, a few, conversations admitted mid-decoding, very different lengths, tiny
prefill chunks); the output rows, resuming from OUT.partial, and load_pairs errors.

The smoke student has random tied weights and answers every prompt with newlines (an empty
prediction), which would make fast == naive hold trivially; so the comparison is also run on a
variant with a random untied output layer whose end-of-turn row is boosted: its predictions are
arbitrary text of varied lengths, some streams stopping early, exercising the batched decoding.

Exact equality is asserted in float32. In bfloat16 the two paths run the same math on other matrix
shapes, so a near-tie between two tokens (this random head has top-2 gaps down to 0.01 at logits
~20, below bf16's resolution there) may round either way: scripts/bench_predict.py measures that
on the real SmolLM2."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.train.test_render import HAND, HAND_2, TOOLS
from tests.unit.train.test_train import pairs_of
from tft_utils.cli import main
from tft_utils.core import fresh
from tft_utils.core.io import DataError, read_jsonl, write_json, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.evaluate import predict as predict_module
from tft_utils.evaluate.predict import PAIR_FIELDS, _Step, _Student, groups, load_pairs, predict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAX_NEW = 16


def _params(dtype: str = "float32", max_new: int = MAX_NEW, batch_streams: int | None = None) -> dict:
    predict_params = {"max_new_tokens": max_new} | ({"batch_streams": batch_streams} if batch_streams else {})
    return load_params("smoke", overrides=[{"predict": predict_params, "student": {"dtype": dtype}}])


@pytest.fixture(scope="module")
def smoke_model():
    from tft_utils.train.student import base_model_dir

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
    from tft_utils.train.render import load_tools

    return load_tools(dataset_dir / "tools.json")


def _predictions(
    model, pairs, tools, dtype: str, method: str, max_new: int = MAX_NEW, batch_streams: int | None = None
) -> list[str]:
    params = _params(dtype, max_new, batch_streams)
    res = predict(model, pairs, params, tools=tools, method=method, progress=False)
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


# --------------------------------------------------------------------------- batching


@pytest.fixture(scope="module")
def mixed_pairs(hand_pairs, real_pairs):
    """Short hand-written conversations (160 and 340 tokens after the system prompt) between long real
    ones (~500 and ~620): groups of 6, 4, 1, 3 and 6 pairs."""
    first = [p for p in real_pairs if p["dialogue_id"] == real_pairs[0]["dialogue_id"]]
    return first + hand_pairs + [p for p in real_pairs if p not in first]


@pytest.fixture(scope="module")
def naive_mixed(varied_model, mixed_pairs, real_tools):
    return _predictions(varied_model, mixed_pairs, real_tools, "float32", "naive", max_new=12)


def _step_widths(monkeypatch) -> list[int]:
    """Records how many streams each decoding step feeds (one forward pass each)."""
    widths: list[int] = []
    real = _Student._forward

    def spy(self, ids, pos, plan, keep=0):
        if isinstance(plan, _Step):
            widths.append(ids.shape[1])
        return real(self, ids, pos, plan, keep)

    monkeypatch.setattr(_Student, "_forward", spy)
    return widths


@pytest.mark.parametrize("batch_streams", [1, 5, 128])
def test_batched_equals_naive_whatever_the_batch(
    varied_model, mixed_pairs, real_tools, naive_mixed, batch_streams, monkeypatch
):
    """1: one conversation at a time (a group larger than the batch is decoded alone); 5: conversations
    admitted while others are half decoded, streams of different ages side by side; 128: all at once."""
    widths = _step_widths(monkeypatch)
    fast = _predictions(varied_model, mixed_pairs, real_tools, "float32", "fast", 12, batch_streams)
    assert fast == naive_mixed
    assert len(set(fast)) >= 5 and len({len(t) for t in fast}) >= 5  # varied text, streams ending apart
    sizes = [len(g) for g in groups(mixed_pairs)]
    assert max(widths) <= max(batch_streams, max(sizes))
    if batch_streams == 128:
        assert widths[0] == len(mixed_pairs) > max(sizes)  # every conversation in the first step


def test_batched_equals_naive_with_tiny_prefill_chunks_and_cache_steps(
    varied_model, mixed_pairs, real_tools, naive_mixed, monkeypatch
):
    """A conversation read 7 tokens per forward pass (most chunks end no prompt, some end several),
    the generated-token cache grown 3 positions at a time."""
    monkeypatch.setattr(predict_module, "PREFILL_CHUNK", 7)
    monkeypatch.setattr(predict_module, "OWN_STEP", 3)
    assert _predictions(varied_model, mixed_pairs, real_tools, "float32", "fast", 12, 5) == naive_mixed


@pytest.fixture(scope="module")
def parrot_model(smoke_model, hand_pairs, tmp_path_factory):
    """The smoke student made nearly a bigram model of the hand-written gold calls, to exercise the
    drafts: its layers' outputs scaled down to 2% (the last hidden state is mostly the current
    token's embedding, context still counts a little) and an output layer sending each token to the
    token that first follows it in a gold call (the assistant header's last token to the call's
    first). It repeats the first 6 tokens of every call (`<tool_call>` newline) and then loops."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tft_utils.train.render import Renderer

    out = tmp_path_factory.mktemp("parrot")
    tok = AutoTokenizer.from_pretrained(smoke_model)
    model = AutoModelForCausalLM.from_pretrained(smoke_model, dtype=torch.float32)
    renderer = Renderer.create(tok, TOOLS)
    follows: dict[int, int] = {}
    for g in groups(hand_pairs):
        ids, _, turns = renderer.conversation_ids(g[-1]["_messages"])
        for _, start, end in turns:
            for a, b in zip(ids[start - 1 : end - 1], ids[start:end], strict=True):
                follows.setdefault(a, b)
    model.config.tie_word_embeddings = False
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight *= 0.02
            layer.mlp.down_proj.weight *= 0.02
        h = model.model.norm(model.model.embed_tokens.weight)
        head = torch.randn(model.lm_head.weight.shape, generator=torch.Generator().manual_seed(1)) * 0.02
        for a, b in follows.items():
            head[b] += 3.0 * h[a] / h[a].norm() ** 2
    model.lm_head.weight = torch.nn.Parameter(head)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("max_new", [16, 4])
def test_drafts_give_what_generate_gives(parrot_model, hand_pairs, max_new, monkeypatch):
    """Pairs repeat their gold call for 6 tokens: read off the prefill, then decoded (16), or done
    within the prefill (4: the cap is reached on the draft) - the same predictions as `generate`."""
    streams = []
    init = predict_module._Stream.__init__
    monkeypatch.setattr(predict_module._Stream, "__init__", lambda s, *a: init(s, *a) or streams.append(s))
    fast = _predictions(parrot_model, hand_pairs, TOOLS, "float32", "fast", max_new)
    assert fast == _predictions(parrot_model, hand_pairs, TOOLS, "float32", "naive", max_new)
    assert all(t.startswith("<tool_call") for t in fast) and all(len(s.gen) == max_new for s in streams)
    drafted = sorted(len(s.gen) - 1 - s.own for s in streams)  # tokens read off the prefill after the 1st
    last_turns = len(groups(hand_pairs))  # their call is not in the conversation read: no draft
    assert drafted == [0] * last_turns + [min(6, max_new - 1)] * (len(hand_pairs) - last_turns)


def test_fast_of_one_group_equals_its_batched_predictions(varied_model, hand_pairs):
    """`fast(group)` (one conversation alone) and `batched(groups)` (groups yielded as they finish)."""
    student = _Student(varied_model, _params(), TOOLS)
    gs = groups(hand_pairs)
    together = {id(g): texts for g, texts in student.batched(gs)}
    assert [student.fast(g) for g in gs] == [together[id(g)] for g in gs]


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_the_greedy_token_is_the_first_of_tied_maxima(dtype):
    """`_greedy` (max's indices, faster than argmax on CPU bf16) picks what argmax and `generate` pick: the
    first maximal index of each row, where several logits are equal."""
    import torch

    g = torch.Generator().manual_seed(0)
    # logits on a coarse grid, as bf16 rounding makes them: each row's maximum is tied many times over
    rows = (torch.randint(0, 200, (16, 49152), generator=g) / 8).to(getattr(torch, dtype))
    rows[3] = 0.0  # every column tied: the first
    rows[5, 100] = rows[5, 7] = 99.0  # two tied maxima above the rest: the earlier one
    lists = rows.tolist()
    want = [r.index(max(r)) for r in lists]  # list.index: the first
    assert predict_module._greedy(rows) == want == rows.argmax(-1).tolist()
    assert want[3] == 0 and want[5] == 7
    assert all(r.count(max(r)) > 1 for r in lists)


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
    assert len(res["rows"]) == res["pairs"] == res["predicted"] == len(hand_pairs) and res["pairs_per_s"] > 0
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
    real_batched = _Student.batched
    monkeypatch.setattr(_Student, "batched", lambda self, gs: decoded.extend(gs) or real_batched(self, gs))
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
    assert res["predicted"] == len(second) + len(third)  # what this call decoded (its record's pairs)


def test_the_saved_render_config_of_a_trained_folder_is_used(smoke_model, tmp_path):
    import shutil

    from tft_utils.train.render import RENDER_FILE

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


# --------------------------------------------------------------------------- shared by scenarios


def test_the_base_predictions_are_made_once_when_two_scenarios_ask_at_once(smoke_model, hand_pairs, tmp_path):
    """The untuned base's predictions are the run's, shared by its scenarios' 06 stages, which run side
    by side on a cluster: the second waits on the lock, then reuses what the first wrote (before, both
    decoded into one partial file and one recorded the other's rows as resumed)."""
    import threading

    from filelock import FileLock

    from tft_utils.evaluate.compare import predict_arm, predict_arms

    pairs_path = tmp_path / "data" / "test_pairs.jsonl"
    write_jsonl(pairs_path, hand_pairs)
    (tmp_path / "data" / "tools.json").write_text(json.dumps(TOOLS))
    params = load_params("smoke", None, ["student.dtype=float32", f"predict.max_new_tokens={MAX_NEW}"])
    pred = tmp_path / "base" / "predictions-sgd.jsonl"
    arm = {"arm": "base", "seed": None, "model": str(smoke_model), "predictions": pred}
    held = FileLock(f"{pred}.lock")
    pred.parent.mkdir()
    held.acquire()  # another scenario's 06 is predicting the base
    logs: list[str] = []
    waiter = threading.Thread(target=predict_arms, args=([arm], pairs_path, params, logs.append))
    waiter.start()
    waiter.join(timeout=5)
    assert waiter.is_alive() and logs == [
        f"base predictions: another process is building {pred}; waiting for it"
    ]
    first: list[str] = []
    predict_arm(arm, pred, smoke_model, pairs_path, pairs_path.parent / "tools.json", params, first.append)
    held.release()
    waiter.join(timeout=120)
    assert not waiter.is_alive() and sum("predicting" in x for x in first) == 1
    assert logs[1:] == ["base predictions: up to date"]  # reused, not decoded again
    assert len(read_jsonl(pred)) == len(hand_pairs) and not pred.with_name(pred.name + ".partial").exists()


def test_models_predicted_side_by_side_write_what_they_write_in_turn(smoke_model, hand_pairs, tmp_path):
    """run.jobs 2 (tft_utils/core/workers.py): the base and a student predicted in two workers, on this
    process's one thread each, write the same bytes as one after the other here; the record says 2 at once."""
    from tft_utils.core import fresh
    from tft_utils.evaluate.compare import predict_arms

    pairs_path = tmp_path / "data" / "test_pairs.jsonl"
    write_jsonl(pairs_path, hand_pairs)
    (tmp_path / "data" / "tools.json").write_text(json.dumps(TOOLS))
    written = {}
    for jobs in (1, 2):
        over = ["student.dtype=float32", f"predict.max_new_tokens={MAX_NEW}", f"run.jobs={jobs}"]
        params = load_params("smoke", None, over)
        arms = [
            {
                "arm": arm,
                "seed": seed,
                "model": str(smoke_model),
                "predictions": tmp_path / f"{jobs}" / f"{arm}.jsonl",
            }
            for arm, seed in (("base", None), ("direct", 0))
        ]
        logs: list[str] = []
        predict_arms(arms, pairs_path, params, logs.append)
        assert sum("predicting" in x for x in logs) == 2
        written[jobs] = [a["predictions"].read_bytes() for a in arms]
        assert {fresh.read(a["predictions"])["predicted"]["jobs"] for a in arms} == {jobs}
    assert written[1] == written[2]
    again: list[str] = []  # a rerun of 06: nothing predicted, no worker started
    predict_arms(arms, pairs_path, params, again.append)
    assert again == ["base predictions: up to date", "direct seed 0 predictions: up to date"]


# --------------------------------------------------------------------------- `tft predict` on a user's files
# Predictions of the same fingerprint are reused, OUT.partial left by another model is removed (and said)
# rather than resumed, a pairs file whose (dialogue_id, turn) repeats is refused naming both lines.


def _cli_files(tmp_path, pairs):
    path, tools = tmp_path / "pairs.jsonl", tmp_path / "tools.json"
    write_jsonl(path, [{k: r[k] for k in PAIR_FIELDS} for r in pairs])
    write_json(tools, TOOLS)
    return path, tools


def _args(model, pairs, tools, out):
    return ["predict", str(model), str(pairs), "--out", str(out), "--tools", str(tools), "--profile", "smoke"]


def test_a_partial_file_of_another_model_is_removed_not_resumed(
    varied_model,
    smoke_model,
    hand_pairs,
    tmp_path,
    capsys,
):
    pairs, tools = _cli_files(tmp_path, hand_pairs)
    out = tmp_path / "pred.jsonl"
    # the smoke model's run was killed after its first rows, which sit in OUT.partial
    smoke_rows = [{k: r[k] for k in PAIR_FIELDS} | {"prediction": "SMOKE"} for r in hand_pairs[:5]]
    write_jsonl(str(out) + ".partial", smoke_rows)
    assert main(_args(varied_model, pairs, tools, out)) == 0
    said = capsys.readouterr().out
    assert f"{out}.partial: left by another model, pairs file or parameters; removed" in said
    rows = read_jsonl(out)
    assert len(rows) == len(hand_pairs) and "SMOKE" not in {r["prediction"] for r in rows}
    # the same command again: current, nothing predicted
    assert main(_args(varied_model, pairs, tools, out)) == 0
    assert f"{out}: up to date" in capsys.readouterr().out

    # its own partial file is resumed: a run of this very fingerprint killed after its first rows
    out2 = tmp_path / "pred2.jsonl"
    fp = fresh.read(out)
    fresh.begin(out2, fp)
    write_jsonl(str(out2) + ".partial", smoke_rows)
    assert main(_args(varied_model, pairs, tools, out2)) == 0
    assert "removed" not in capsys.readouterr().out
    assert [r["prediction"] for r in read_jsonl(out2)][:5] == ["SMOKE"] * 5


def test_a_pair_given_twice_is_refused_naming_both_lines(hand_pairs, tmp_path, capsys):
    pairs, tools = _cli_files(tmp_path, [*hand_pairs[:3], hand_pairs[1]])
    assert main(_args(tmp_path / "no-model", pairs, tools, tmp_path / "p.jsonl")) == 2
    first = hand_pairs[1]
    err = capsys.readouterr().err
    assert f"{pairs}:4: dialogue {first['dialogue_id']} turn {first['turn']} is also on line 2" in err


def test_a_turn_that_is_not_an_integer_is_named(hand_pairs, tmp_path, capsys):
    pairs, tools = _cli_files(tmp_path, [{**hand_pairs[0], "turn": str(hand_pairs[0]["turn"])}])
    assert main(_args(tmp_path / "no-model", pairs, tools, tmp_path / "p.jsonl")) == 2
    turn = hand_pairs[0]["turn"]
    assert f"{pairs}:1: field turn must be an integer, got '{turn}'" in capsys.readouterr().err
