"""Training sequences and their loss masks (tft_utils/train/loop.py `encode`, `_loss`), regrouping of
per-turn pairs, and a tiny real `train` run on the smoke student: its output folder, and resuming
a run interrupted after a checkpoint."""

from __future__ import annotations

import json
import math
import random

import pytest

from tests.unit.train.test_render import HAND, HAND_2, HAND_CONVS, HAND_TARGETS, TOOLS
from tft_utils.core.io import DataError, read_jsonl
from tft_utils.domain.calls import call_of
from tft_utils.train.loop import conversations_from_rows, encode, train
from tft_utils.train.render import RENDER_FILE, Renderer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BIG = 100_000  # a budget every conversation fits in


def spans(mask: list[bool]) -> list[tuple[int, int]]:
    """[start, end) of each run of supervised tokens."""
    out, start = [], None
    for p, m in enumerate([*mask, False]):
        if m and start is None:
            start = p
        elif not m and start is not None:
            out.append((start, p))
            start = None
    return out


def supervised_texts(tok, seqs: list[dict]) -> list[str]:
    return [tok.decode(s["ids"][a:b]) for s in seqs for a, b in spans(s["mask"])]


def call_texts(renderer: Renderer, messages: list[dict]) -> list[str]:
    ids, _, turns = renderer.conversation_ids(messages)
    return [renderer.tokenizer.decode(ids[a:b]) for _, a, b in turns]


def long_conversation(repeats: int = 4) -> dict:
    """HAND's exchange (10 messages, 5 turns) said `repeats` times: ~1300 tokens, 20 turns."""
    msgs = [m for m in HAND["messages"] if m["role"] != "system"] * repeats
    return {"dialogue_id": "long", "messages": msgs}


def pairs_of(conv: dict) -> list[dict]:
    """The per-turn pairs of a conversation, as test_pairs.jsonl writes them."""
    out = []
    for i, m in enumerate(conv["messages"]):
        if m["role"] == "assistant":
            name, args = call_of(m)
            out.append(
                {
                    "dialogue_id": conv["dialogue_id"],
                    "turn": i,
                    "question": json.dumps(conv["messages"][:i]),
                    "answer": json.dumps({"name": name, "parameters": args}),
                }
            )
    return out


# --------------------------------------------------------------------------- loss masks


def assert_loss_on_calls_only(renderer: Renderer, messages: list[dict]) -> None:
    tok = renderer.tokenizer
    ids, mask, turns = renderer.conversation_ids(messages)
    assert spans(mask) == [(a, b) for _, a, b in turns]  # every call, and nothing else
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    for _, a, b in turns:
        assert tok.decode(ids[a:b]).startswith("<tool_call>\n") and ids[b - 1] == im_end
        assert tok.decode(ids[:a]).endswith(renderer.header)  # the header before it carries none
        assert b == len(ids) or not mask[b]  # nor the newline after the end-of-turn token
    unsupervised = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert unsupervised.startswith(renderer.system_text)
    assert "<tool_call>" not in unsupervised.replace(renderer.system_text, "")  # no call token left out
    for m in messages:  # user text and tool results are all context
        if m["role"] in ("user", "tool") and isinstance(m["content"], str):
            assert m["content"] in unsupervised


def test_only_call_tokens_carry_loss_on_every_assistant_turn(renderer, tok):
    for conv in HAND_CONVS:
        assert_loss_on_calls_only(renderer, conv["messages"])
    (seq,) = encode(renderer, HAND, BIG)
    assert supervised_texts(tok, [seq]) == [t + "<|im_end|>" for t in HAND_TARGETS]
    assert (seq["ids"], seq["mask"]) == renderer.conversation_ids(HAND["messages"])[:2]


def test_only_call_tokens_carry_loss_on_real_conversations(tok, dataset_dir):
    from tft_utils.train.render import load_tools

    renderer = Renderer.create(tok, load_tools(dataset_dir / "tools.json"))
    for conv in read_jsonl(dataset_dir / "test.jsonl")[:10]:
        assert_loss_on_calls_only(renderer, conv["messages"])


def test_a_masked_assistant_turn_carries_no_loss(renderer, tok):
    msgs = [dict(m) for m in HAND["messages"]]
    msgs[4]["masked"] = True  # the FindRestaurants call
    (seq,) = encode(renderer, {"messages": msgs}, BIG)
    assert seq["ids"] == renderer.conversation_ids(HAND["messages"])[0]  # still read as context
    assert supervised_texts(tok, [seq]) == [t + "<|im_end|>" for k, t in enumerate(HAND_TARGETS) if k != 1]
    per_turn = encode(renderer, {"messages": msgs}, BIG, unit="turn")
    assert len(per_turn) == 4 and all("FindRestaurants" not in t for t in supervised_texts(tok, per_turn))
    all_masked = [{**m, "masked": True} if m["role"] == "assistant" else m for m in HAND_2["messages"]]
    assert not any(any(s["mask"]) for s in encode(renderer, {"messages": all_masked}, BIG))
    assert encode(renderer, {"messages": all_masked}, BIG, unit="turn") == []


def test_loss_is_summed_over_exactly_the_supervised_tokens(tok):
    """`_batch_loss` applies the output layer at the position before each supervised token only."""
    import torch
    import torch.nn.functional as F

    from tft_utils.train.loop import _batch_loss
    from tft_utils.train.student import base_model_dir, load_student

    model, _ = load_student(base_model_dir("smoke"), "cpu", "float32")
    (seq,) = encode(Renderer.create(tok, TOOLS), HAND_2, BIG)
    with torch.no_grad():
        loss, n = _batch_loss(model, [seq], "cpu", tok.pad_token_id)
        logits = model(input_ids=torch.tensor([seq["ids"]])).logits[0]
    targets = [p for p in range(1, len(seq["ids"])) if seq["mask"][p]]
    manual = F.cross_entropy(
        logits[[p - 1 for p in targets]], torch.tensor([seq["ids"][p] for p in targets]), reduction="sum"
    )
    assert n == len(targets) == sum(seq["mask"])
    assert loss.item() == pytest.approx(manual.item(), rel=1e-4)


def test_call_weight_marks_the_tool_names_and_scales_their_loss(tok):
    """`train.call_weight` weights exactly the tokens naming each call's tool (quotes included),
    one run per assistant turn; the weighted loss is the plain loss plus (w - 1) x theirs."""
    import torch
    import torch.nn.functional as F

    from tft_utils.train.loop import _batch_loss
    from tft_utils.train.student import base_model_dir, load_student

    r = Renderer.create(tok, TOOLS)
    (plain,) = encode(r, HAND, BIG)
    (seq,) = encode(r, HAND, BIG, call_weight=4.0)
    assert "weights" not in plain and seq["ids"] == plain["ids"] and seq["mask"] == plain["mask"]
    named = spans([p in seq["weights"] for p in range(len(seq["ids"]))])
    names = [call_of(m)[0] for m in HAND["messages"] if m["role"] == "assistant"]
    assert [tok.decode(seq["ids"][a:b]).strip().rstrip(",") for a, b in named] == [f'"{n}"' for n in names]
    assert all(seq["mask"][p] for p in seq["weights"]) and set(seq["weights"].values()) == {4.0}

    model, _ = load_student(base_model_dir("smoke"), "cpu", "float32")
    with torch.no_grad():
        base, n = _batch_loss(model, [plain], "cpu", tok.pad_token_id)
        weighted, n_w = _batch_loss(model, [seq], "cpu", tok.pad_token_id)
        logits = model(input_ids=torch.tensor([seq["ids"]])).logits[0]
    pos = sorted(seq["weights"])
    theirs = F.cross_entropy(
        logits[[p - 1 for p in pos]], torch.tensor([seq["ids"][p] for p in pos]), reduction="sum"
    )
    assert n_w == n  # the step still averages over the supervised tokens
    assert weighted.item() == pytest.approx(base.item() + 3.0 * theirs.item(), rel=1e-4)


def test_a_padded_micro_batch_has_the_loss_of_its_sequences(tok):
    """Right padding changes nothing: the loss of [long, short] is the sum of their own losses."""
    import torch

    from tft_utils.train.loop import _batch_loss
    from tft_utils.train.student import base_model_dir, load_student

    model, _ = load_student(base_model_dir("smoke"), "cpu", "float32")
    r = Renderer.create(tok, TOOLS)
    (a,), (b,) = encode(r, HAND, BIG), encode(r, HAND_2, BIG)
    assert len(a["ids"]) != len(b["ids"])
    with torch.no_grad():
        both, n = _batch_loss(model, [a, b], "cpu", tok.pad_token_id)
        la, na = _batch_loss(model, [a], "cpu", tok.pad_token_id)
        lb, nb = _batch_loss(model, [b], "cpu", tok.pad_token_id)
    assert n == na + nb
    assert both.item() == pytest.approx(la.item() + lb.item(), rel=1e-4)


def test_padding_to_a_multiple_changes_no_loss(tok):
    """`train.pad_multiple`: a lone sequence padded at its end (no attention mask: causal attention
    keeps its tokens from seeing the pads) and a padded micro-batch have the loss they have unpadded;
    so do the output layer's rows padded to the multiple (ignored targets), with the tool-name weights
    of `train.call_weight` too, and the gradients are the same."""
    import torch

    from tft_utils.train.loop import _batch_loss, padded_width
    from tft_utils.train.student import base_model_dir, load_student

    model, _ = load_student(base_model_dir("smoke"), "cpu", "float32")
    r = Renderer.create(tok, TOOLS)
    (a,), (b,) = encode(r, HAND, BIG), encode(r, HAND_2, BIG)
    assert len(a["ids"]) % 64 and padded_width([a], 64) == -(-len(a["ids"]) // 64) * 64
    assert padded_width([a, b], 1) == max(len(a["ids"]), len(b["ids"]))
    with torch.no_grad():
        for batch in ([a], [a, b]):
            plain, n = _batch_loss(model, batch, "cpu", tok.pad_token_id)
            padded, n_p = _batch_loss(model, batch, "cpu", tok.pad_token_id, 64)
            assert n_p == n and padded.item() == pytest.approx(plain.item(), rel=1e-5)
            assert n % 64  # the rows were padded as well
        (w,) = encode(r, HAND, BIG, call_weight=4.0)
        plain, _ = _batch_loss(model, [w], "cpu", tok.pad_token_id)
        padded, _ = _batch_loss(model, [w], "cpu", tok.pad_token_id, 64)
        assert padded.item() == pytest.approx(plain.item(), rel=1e-5)
    grads = []
    for multiple in (1, 64):
        model.zero_grad()
        _batch_loss(model, [a, b], "cpu", tok.pad_token_id, multiple)[0].backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    assert all(torch.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(*grads, strict=True))


def test_step_order_is_seeded_and_groups_by_length_when_batched():
    from tft_utils.train.loop import step_order

    seqs = [{"ids": [0] * n} for n in (5, 50, 7, 60, 6, 55, 8, 52)]
    plain = step_order(seqs, 4, 2, 0, by_length=False)
    assert plain == step_order(seqs, 4, 2, 0, by_length=False) != step_order(seqs, 4, 2, 1, by_length=False)
    assert sorted(i for g in plain for i in g) == list(range(8))  # one epoch: each sequence once
    grouped = step_order(seqs, 4, 2, 0, by_length=True)
    assert sorted(i for g in grouped for i in g) == list(range(8))
    widths = [max(len(seqs[i]["ids"]) for i in g) - min(len(seqs[i]["ids"]) for i in g) for g in grouped]
    assert max(widths) <= 5  # short with short, long with long
    assert len(step_order(seqs, 6, 2, 0, by_length=True)) == 6  # past one epoch: the next epoch's shuffle


# --------------------------------------------------------------------------- long conversations


def assert_split(renderer: Renderer, conv: dict, max_tokens: int) -> list[dict]:
    """Every sequence fits and starts with the system prompt; every turn whose call fits after the
    system prompt is supervised exactly once, in order; the others never."""
    tok = renderer.tokenizer
    seqs = encode(renderer, conv, max_tokens, "split")
    n_fixed = len(renderer.ids(renderer.system_text)) + len(renderer.ids(renderer.header))
    ids, _, turns = renderer.conversation_ids(conv["messages"])
    trainable = [tok.decode(ids[a:b]) for _, a, b in turns if n_fixed + b - a <= max_tokens]
    system = renderer.ids(renderer.system_text)
    for s in seqs:
        assert len(s["ids"]) <= max_tokens and len(s["ids"]) == len(s["mask"])
        assert s["ids"][: len(system)] == system
        assert s["mask"][-1] or len(seqs) == 1  # a cut sequence ends right after the last call it trains
    assert supervised_texts(tok, seqs) == trainable
    return seqs


def test_split_supervises_every_turn_once_and_each_sequence_fits(renderer):
    conv = long_conversation()
    full = renderer.conversation_ids(conv["messages"])[0]
    for max_tokens in (400, 600, 900):
        assert len(full) > max_tokens
        seqs = assert_split(renderer, conv, max_tokens)
        assert len(seqs) >= 2
        starts = {renderer.tokenizer.decode(s["ids"])[len(renderer.system_text) :][:17] for s in seqs[1:]}
        # a later sequence starts at a user message (recent context in half the budget, system prompt
        # included), or right at the assistant turn when no message fits there
        assert starts <= {renderer.user_pre[:17], renderer.header[:17]}
        if max_tokens == 900:
            assert starts == {renderer.user_pre[:17]}
    assert len(assert_split(renderer, conv, len(full))) == 1  # fits: one sequence, the whole conversation


def test_split_on_real_conversations_at_several_budgets(tok, dataset_dir):
    from tft_utils.train.render import load_tools

    renderer = Renderer.create(tok, load_tools(dataset_dir / "tools.json"))
    convs = read_jsonl(dataset_dir / "test.jsonl")
    for max_tokens in (300, 360, 512, 1024):
        n = sum(len(assert_split(renderer, c, max_tokens)) for c in convs)
        assert n > len(convs) or max_tokens >= max(
            len(renderer.conversation_ids(c["messages"])[0]) for c in convs
        )


def test_split_skips_only_a_turn_longer_than_the_budget(renderer, tok):
    """A turn whose call alone exceeds the budget is skipped; the turns after it are still trained, and
    a first turn that does not fit with its (long) user message is trained without it."""
    msgs = [dict(m) for m in HAND["messages"] if m["role"] != "system"]
    msgs[0] = {"role": "user", "content": "Hello there, I am hungry. " * 40}
    msgs[5] = {"role": "assistant", "content": "Here is a very long answer. " * 80}
    conv = {"dialogue_id": "odd", "messages": msgs}
    calls = call_texts(renderer, msgs)
    seqs = assert_split(renderer, conv, 420)
    got = supervised_texts(tok, seqs)
    assert got == [c for k, c in enumerate(calls) if k != 2] and len(got) == 4


def test_truncate_keeps_the_first_tokens_and_only_whole_calls(renderer, tok):
    conv = long_conversation(2)
    ids, mask, turns = renderer.conversation_ids(conv["messages"])
    _, a, b = turns[3]
    cut = a + 3  # the budget ends inside the 4th call
    (seq,) = encode(renderer, conv, cut, "truncate")
    assert seq["ids"] == ids[:cut] and len(seq["mask"]) == cut
    assert spans(seq["mask"]) == [(s, e) for _, s, e in turns[:3]]  # the cut call carries no loss
    (seq,) = encode(renderer, conv, b, "truncate")
    assert spans(seq["mask"]) == [(s, e) for _, s, e in turns[:4]]
    assert encode(renderer, conv, turns[0][1] + 2, "truncate") == []  # no whole call: nothing to train
    with pytest.raises(ValueError, match="split or truncate"):
        encode(renderer, conv, cut, "drop")


def test_turn_unit_gives_one_sequence_per_turn_with_loss_on_that_turn_only(renderer, tok):
    conv = long_conversation(2)
    msgs = conv["messages"]
    ids, mask, turns = renderer.conversation_ids(msgs)
    seqs = encode(renderer, conv, BIG, unit="turn")
    assert len(seqs) == len(turns) == 10
    for s, (i, a, b) in zip(seqs, turns, strict=True):
        assert s["ids"] == renderer.prompt_ids(msgs[:i]) + ids[a:b]
        assert spans(s["mask"]) == [(a, b)]
    assert sum(sum(s["mask"]) for s in seqs) == sum(mask)
    limit = turns[6][2]  # a turn whose prompt + call does not fit is left out
    assert len(encode(renderer, conv, limit, unit="turn")) == 7


# --------------------------------------------------------------------------- per-turn pairs


def test_conversations_from_rows_regroups_pairs_into_conversations(renderer):
    rows = pairs_of(HAND) + pairs_of(HAND_2)
    random.Random(0).shuffle(rows)
    convs = conversations_from_rows(rows)
    assert sorted(c["dialogue_id"] for c in convs) == ["hand_1", "hand_2"]
    for c in convs:
        original = HAND if c["dialogue_id"] == "hand_1" else HAND_2
        assert renderer.conversation_ids(c["messages"]) == renderer.conversation_ids(original["messages"])
    traces = conversations_from_rows([HAND, HAND_2])  # traces pass through as they are
    assert [c["messages"] for c in traces] == [HAND["messages"], HAND_2["messages"]]
    anonymous = [{k: v for k, v in r.items() if k != "dialogue_id"} for r in pairs_of(HAND_2)]
    assert len(conversations_from_rows(anonymous)) == 3  # no dialogue_id: one conversation per pair


def test_conversations_from_rows_on_the_real_test_pairs(renderer, dataset_dir):
    traces = {t["dialogue_id"]: t for t in read_jsonl(dataset_dir / "test.jsonl")}
    convs = conversations_from_rows(read_jsonl(dataset_dir / "test_pairs.jsonl"))
    assert len(convs) == len(traces)
    for c in convs:
        assert renderer.conversation_ids(c["messages"]) == renderer.conversation_ids(
            traces[c["dialogue_id"]]["messages"]
        )


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"dialogue_id": "x", "question": "[]"}, r"pairs.jsonl:2: expected a trace \(messages\) or a pair"),
        ({"dialogue_id": "x", "question": "[]", "answer": "{oops"}, "pairs.jsonl:2: field question/answer"),
        (
            {"dialogue_id": "x", "question": "[]", "answer": '{"parameters": {}}'},
            "pairs.jsonl:2: field question/answer",
        ),
    ],
)
def test_conversations_from_rows_names_the_bad_row(bad, error):
    with pytest.raises(DataError, match=error):
        conversations_from_rows([pairs_of(HAND_2)[0], bad], "pairs.jsonl")


# --------------------------------------------------------------------------- a real (tiny) run


def _params(**train_cfg):
    from tft_utils.core.params import load_params

    cfg = {"max_steps": 2, "save_every": 1, "warmup_steps": 0, "max_tokens": 512, **train_cfg}
    return load_params("smoke", overrides=[{"train": cfg, "student": {"dtype": "float32"}}])


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A 2-step run, then the same command rerun with max_steps=4 into the same folder."""
    out = tmp_path_factory.mktemp("train") / "model"
    first = train(HAND_CONVS, out, _params(max_steps=2), TOOLS, progress=False)
    first_stats = json.loads((out / "train_stats.json").read_text())
    snapshot = {p.name for p in out.iterdir()}
    weights_2 = _weights(out)
    again = train(HAND_CONVS, out, _params(max_steps=4), TOOLS, progress=False)
    return {
        "out": out,
        "first": first,
        "first_stats": first_stats,
        "files": snapshot,
        "weights_2": weights_2,
        "again": again,
    }


def test_train_writes_a_merged_model_folder(finished, tok):
    from tft_utils.train.student import base_model_dir, load_student

    out, stats = finished["out"], finished["first_stats"]
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        RENDER_FILE,
        "train_stats.json",
        "loss.png",
    } <= finished["files"]
    assert "checkpoint" not in finished["files"]  # removed once the run is done
    assert not any(p.name.endswith(".saving") for p in out.parent.iterdir())
    assert json.loads((out / RENDER_FILE).read_text()) == Renderer.create(tok, TOOLS).config()
    assert stats["steps"] == 2 and len(stats["history"]) == 2 and stats["dtype"] == "float32"
    assert stats["tokens"] == stats["history"][-1]["tokens"] > 0
    assert math.isfinite(stats["final_loss"]) and stats["final_loss"] > 0
    assert (
        stats["sequences"] == 3 and stats["conversations"] == 2 and stats["train_params"]["max_tokens"] == 512
    )
    assert {k: stats[k] for k in finished["first"]} == finished["first"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a plain merged model (no LoRA weights left), trained away from the base
    base, merged = _weights(base_model_dir("smoke")), finished["weights_2"]
    assert not any("lora" in k for k in merged)
    changed = [k for k in merged if k in base and not (merged[k].float() == base[k].float()).all()]
    assert any("q_proj" in k for k in changed) and all("embed" not in k for k in changed)
    model, _ = load_student(out, "cpu", "float32")
    assert model.config.num_hidden_layers == 2


def test_rerunning_a_finished_run_starts_over(finished):
    """A finished run leaves no checkpoint, so rerunning it with more steps trains again from the base
    (same first step), it does not continue the finished run."""
    first, again = (
        finished["first_stats"]["history"],
        json.loads((finished["out"] / "train_stats.json").read_text()),
    )
    assert [h["step"] for h in again["history"]] == [1, 2, 3, 4] and again["steps"] == 4
    assert again["history"][0]["loss"] == pytest.approx(first[0]["loss"], rel=1e-5)
    assert not (finished["out"] / "checkpoint").exists()


def test_an_interrupted_run_resumes_from_its_checkpoint(finished, tmp_path, monkeypatch):
    """Stopped during step 3 of 4 (checkpoint of step 2 on disk), then the same command run again:
    it trains steps 3-4 only and ends exactly where the uninterrupted run ended."""
    import torch

    import tft_utils.train.loop as train_mod

    real_loss, calls = train_mod._batch_loss, []

    def stop_at_step_3(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_loss(*args, **kw)

    out = tmp_path / "model"
    monkeypatch.setattr(train_mod, "_batch_loss", stop_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(HAND_CONVS, out, _params(max_steps=4), TOOLS, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint"]  # no model yet
    assert torch.load(out / "checkpoint" / "state.pt", weights_only=False)["step"] == 2

    calls.clear()
    monkeypatch.setattr(train_mod, "_batch_loss", lambda *a, **kw: (calls.append(1), real_loss(*a, **kw))[1])
    stats = train(HAND_CONVS, out, _params(max_steps=4), TOOLS, progress=False)
    assert len(calls) == 2  # steps 3 and 4 only (one sequence per step)
    reference = finished["again"]
    resumed = json.loads((out / "train_stats.json").read_text())
    expected = json.loads((finished["out"] / "train_stats.json").read_text())
    assert [h["step"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx(
        [h["loss"] for h in expected["history"]], rel=1e-5
    )
    assert (
        stats["tokens"] == reference["tokens"]
        and stats["supervised_tokens"] == reference["supervised_tokens"]
    )
    assert not (out / "checkpoint").exists()
    a, b = _weights(out), _weights(finished["out"])
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_full_fine_tuning_with_micro_batches_trains_every_weight(tmp_path):
    """method=full: no adapters, the embeddings move too; two sequences per forward pass."""
    from tft_utils.train.student import base_model_dir

    out = tmp_path / "full"
    stats = train(
        HAND_CONVS,
        out,
        _params(method="full", conversations_per_step=2, micro_batch=2, lr=1e-3),
        TOOLS,
        progress=False,
    )
    assert stats["method"] == "full" and stats["steps"] == 2
    assert stats["padded_tokens"] >= stats["tokens"] > 0 and stats["padded_tokens"] % 64 == 0
    base, tuned = _weights(base_model_dir("smoke")), _weights(out)
    changed = [k for k in tuned if k in base and not (tuned[k].float() == base[k].float()).all()]
    assert any("embed" in k for k in changed) and any("q_proj" in k for k in changed)


def test_compiled_layers_train_the_same_model(finished, tmp_path):
    """train.compile=inductor (what `auto` picks on a CPU with a C++ compiler): the decoder layers run
    as inductor kernels, with the same losses and, after 2 steps, the same merged weights as eager
    (float32; fused kernels may round a few ulps apart), under the same weight names."""
    import torch

    from tft_utils.train.loop import has_cxx

    if not has_cxx():
        pytest.skip("inductor needs a C++ compiler")
    out = tmp_path / "compiled"
    stats = train(HAND_CONVS, out, _params(max_steps=2, compile="inductor"), TOOLS, progress=False)
    eager = finished["first_stats"]
    assert stats["compiled"] is True and eager["compiled"] is False
    assert stats["attention"] == "sdpa"  # train.fast_step off by default
    history = json.loads((out / "train_stats.json").read_text())["history"]
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in eager["history"]], rel=1e-4)
    a, b = _weights(out), finished["weights_2"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_fast_step_trains_the_same_model(finished, tmp_path):
    """train.fast_step with compiled layers: the attention's backward as matrix products, the output
    layer's loss compiled, fused AdamW; the same losses and merged weights as the eager default
    (float32), recorded in the stats; the saved model names no custom attention (it loads without
    this package)."""
    import torch

    from tft_utils.train.loop import has_cxx

    if not has_cxx():
        pytest.skip("inductor needs a C++ compiler")
    out = tmp_path / "fast"
    stats = train(
        HAND_CONVS, out, _params(max_steps=2, compile="inductor", fast_step=True), TOOLS, progress=False
    )
    eager = finished["first_stats"]
    assert stats["fast_step"] is True and stats["attention"] == "tft_causal"
    assert eager["fast_step"] is False and eager["attention"] == "sdpa"
    history = json.loads((out / "train_stats.json").read_text())["history"]
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in eager["history"]], rel=1e-4)
    a, b = _weights(out), finished["weights_2"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert "tft_causal" not in (out / "config.json").read_text()


def test_compile_mode_is_checked():
    from tft_utils.train.loop import compile_layers

    with pytest.raises(ValueError, match="train.compile must be auto, inductor or none, got 'yes'"):
        compile_layers(None, "yes", "cpu")
    assert compile_layers(None, "none", "cpu") is False
    assert compile_layers(None, "auto", "cuda") is False  # auto compiles on CPU only


def test_auto_trains_eagerly_where_inductor_fails(monkeypatch):
    """A machine whose compiler or Python headers are missing: `auto` warns and trains eagerly
    instead of failing at the first step; `inductor` (asked for by name) is not second-guessed."""
    import torch

    from tft_utils.train.loop import _inductor_works, compile_layers, has_cxx

    if not has_cxx():
        pytest.skip("without a C++ compiler auto does not try inductor at all")
    _inductor_works.cache_clear()  # the probe's answer is kept per process: ask it again here

    def broken(*a, **kw):
        raise RuntimeError("no Python.h")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="inductor cannot compile here .RuntimeError.; training eagerly"):
        assert compile_layers(None, "auto", "cpu") is False
    _inductor_works.cache_clear()  # later callers probe the real inductor again


def test_lora_layers_trains_the_top_layers_only(tmp_path):
    """train.lora_layers: 1 on the 2-layer smoke student: the merged model's bottom layer keeps the
    base's weights bit for bit, the top layer's adapted weights move (with 0, both layers move)."""
    from tft_utils.train.student import base_model_dir

    base = _weights(base_model_dir("smoke"))
    layer = "model.layers.{}.self_attn.q_proj.weight"
    moved = {}
    for top in (1, 0):
        out = tmp_path / f"top{top}"
        train(HAND_CONVS, out, _params(lora_layers=top, lr=1e-2), TOOLS, progress=False)
        w = _weights(out)
        moved[top] = [not (w[layer.format(i)] == base[layer.format(i)]).all().item() for i in (0, 1)]
    assert moved == {1: [False, True], 0: [True, True]}


def test_loraplus_ratio_moves_the_b_matrices_further_per_step(tmp_path):
    """train.loraplus_ratio r (LoRA+): the B matrices learn at lr x r, the A matrices at lr, so after the
    same 2 steps at the same lr the merged weights have moved several times further from the base than
    with plain AdamW (r = 1: one group, every adapter at lr). Full fine-tuning refuses it."""
    from tft_utils.train.loop import optimizer, with_lora
    from tft_utils.train.student import base_model_dir, load_student

    base = _weights(base_model_dir("smoke"))
    layer = "model.layers.1.self_attn.q_proj.weight"
    shift = {}
    for r in (1.0, 16.0):
        out = tmp_path / f"r{r:g}"
        train(HAND_CONVS, out, _params(loraplus_ratio=r), TOOLS, progress=False)
        shift[r] = (_weights(out)[layer].float() - base[layer].float()).norm().item()
    assert shift[1.0] > 0 and shift[16.0] > 4 * shift[1.0]

    cfg = _params(loraplus_ratio=16.0)["train"]
    model = with_lora(load_student(base_model_dir("smoke"), "cpu", "float32")[0], cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(p)]: g["lr"] for g in optimizer(model, cfg).param_groups for p in g["params"]}
    assert lrs and all(
        lr == pytest.approx(16 * cfg["lr"] if "lora_B" in n else cfg["lr"]) for n, lr in lrs.items()
    )
    with pytest.raises(
        ValueError, match="train.loraplus_ratio 16.0 applies to train.method lora, not 'full'"
    ):
        optimizer(model, {**cfg, "method": "full"})


def test_amp_leaves_a_float32_student_unchanged(finished, tmp_path):
    """train.amp on a float32 student (no bf16 units): no autocast, the same run to the bit."""
    import torch

    out = tmp_path / "amp32"
    stats = train(HAND_CONVS, out, _params(max_steps=2, amp=True), TOOLS, progress=False)
    assert stats["amp"] is False and finished["first_stats"]["amp"] is False
    history = json.loads((out / "train_stats.json").read_text())["history"]
    assert [h["loss"] for h in history] == [h["loss"] for h in finished["first_stats"]["history"]]
    a, b = _weights(out), finished["weights_2"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_amp_multiplies_the_adapters_in_bf16():
    """A bf16 student's adapters are float32 (peft); under train.amp their products come out bf16,
    their gradients stay float32 and the loss moves by bf16 rounding only."""
    import torch

    from tft_utils.train.loop import _batch_loss, autocast, with_lora
    from tft_utils.train.student import base_model_dir, load_student

    params = _params()
    model, tok = load_student(base_model_dir("smoke"), "cpu", "bfloat16")
    model.train()
    model = with_lora(model, params["train"])
    lora = [p for p in model.parameters() if p.requires_grad]
    assert lora and {p.dtype for p in lora} == {torch.float32}
    seq = encode(Renderer.create(tok, TOOLS), HAND_CONVS[0], 512, "split", "conversation")[0]
    module = next(m for n, m in model.named_modules() if n.endswith("q_proj.lora_A.default"))
    seen = []
    module.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    losses, grads = {}, {}
    for on in (False, True):
        with autocast(model, on):
            loss, n = _batch_loss(model, [seq], "cpu", tok.pad_token_id, 64)
        (loss / n).backward()
        losses[on], grads[on] = loss.item() / n, [p.grad.clone() for p in lora]
        model.zero_grad(set_to_none=True)
    assert seen == [torch.float32, torch.bfloat16]
    assert all(g.dtype == torch.float32 for g in grads[True])
    assert losses[True] == pytest.approx(losses[False], rel=2e-2)
    g0, g1 = torch.cat([g.flatten() for g in grads[False]]), torch.cat([g.flatten() for g in grads[True]])
    assert torch.nn.functional.cosine_similarity(g0, g1, dim=0) > 0.95
