"""`tft train` on a user's own file: a finished model of the same fingerprint is reused, and a checkpoint
left in OUT by a run of other inputs is removed (and said), never resumed into this one."""

import json

import pytest

from tests.unit.train.test_render import HAND_CONVS, TOOLS
from tft_utils.cli import main
from tft_utils.core.io import read_json, write_json, write_jsonl

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMOKE = [
    "--profile",
    "smoke",
    "-p",
    "train.max_steps=2",
    "-p",
    "train.save_every=1",
    "-p",
    "train.max_tokens=512",
]


def _files(tmp_path, convs):
    data, tools = tmp_path / "train.jsonl", tmp_path / "tools.json"
    write_jsonl(data, convs)
    write_json(tools, TOOLS)
    return data, tools


def _losses(folder):
    return [
        (h["step"], h["tokens"], round(h["loss"], 5))
        for h in read_json(folder / "train_stats.json")["history"]
    ]


def test_a_checkpoint_of_other_inputs_is_removed_not_resumed(tmp_path, capsys, monkeypatch):
    import tft_utils.train.loop as loop
    from tft_utils.core.params import load_params

    data, tools = _files(tmp_path, HAND_CONVS)
    ref = tmp_path / "ref"
    assert main(["train", str(data), "--out", str(ref), "--tools", str(tools), *SMOKE]) == 0
    # another run into `out`, of one conversation, dies after its last checkpoint (step 2 of 2)
    out = tmp_path / "model"
    params = load_params("smoke", overrides=[{"train": {"max_steps": 2, "save_every": 1, "max_tokens": 512}}])
    monkeypatch.setattr(loop, "_plot", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        loop.train(HAND_CONVS[:1], out, params, TOOLS, progress=False)
    monkeypatch.undo()
    assert (out / "checkpoint" / "state.pt").exists()
    capsys.readouterr()
    assert main(["train", str(data), "--out", str(out), "--tools", str(tools), *SMOKE]) == 0
    said = capsys.readouterr().out
    assert f"{out / 'checkpoint'}: left by a run of other inputs or parameters; removed" in said
    assert _losses(out) == _losses(ref)  # trained on this file from step 0, not the other run's steps
    assert not (out / "checkpoint").exists()

    # the same command again: the model is current, nothing trained
    assert main(["train", str(data), "--out", str(out), "--tools", str(tools), *SMOKE]) == 0
    said = capsys.readouterr().out
    assert f"{out}: up to date" in said and json.loads(said[said.index("{") :])["steps"] == 2

    # other data into the same folder: trained again
    data2, _ = _files(tmp_path / "b", HAND_CONVS[:1])
    assert main(["train", str(data2), "--out", str(out), "--tools", str(tools), *SMOKE]) == 0
    assert "(re)building" in capsys.readouterr().out


def test_a_trace_file_with_a_bad_shape_names_its_line(tmp_path, capsys):
    bad = [HAND_CONVS[0], {"dialogue_id": "x", "messages": [{"role": "user", "content": "hi"}, "oops"]}]
    data, tools = _files(tmp_path, bad)
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--tools", str(tools), *SMOKE]) == 2
    err = capsys.readouterr().err
    assert err == f"tft train: error: {data}:2: message 1: expected an object with a 'role', got str\n"
    assert not (tmp_path / "m").exists()


def test_an_empty_file_is_named(tmp_path, capsys):
    data, tools = _files(tmp_path, [])
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--tools", str(tools), *SMOKE]) == 2
    assert capsys.readouterr().err == f"tft train: error: {data}: no traces or pairs (an empty file)\n"
