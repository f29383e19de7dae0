"""The tool-calling base (student.tool_base: sgd): built once from SGD services the study never uses."""

import json

import pytest

from tft_utils.core import fresh
from tft_utils.core.params import ParamsError, load_params
from tft_utils.train.tool_base import EXCLUDED, domain_prompt, student_base, tool_base_conversations

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_no_restaurant_or_hotel_dialogue_enters_and_each_has_its_own_tools(sgd_dir):
    convs = tool_base_conversations(sgd_dir)
    services = {c["service"] for c in convs}
    assert len(convs) > 500 and len(services) >= 10  # the shipped subset: 558 dialogues, 13 services
    assert not any(s.startswith(EXCLUDED) for s in services)
    text = json.dumps([c["messages"] for c in convs]).lower()
    assert "findrestaurants" not in text and "reserverestaurant" not in text
    for c in convs[:50]:
        names = {t["function"]["name"] for t in c["tools"]}
        called = {m["tool_calls"][0]["function"]["name"] for m in c["messages"] if m.get("tool_calls")}
        assert called <= names and "respond_to_user" in names
    assert domain_prompt("Events_2").startswith("You are an assistant for events.")


def test_built_once_then_reused_and_rebuilt_when_its_recipe_changes(sgd_dir, model_cache, monkeypatch):
    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))
    over = [
        "student.tool_base=sgd",
        "student.tool_base_steps=2",
        f"student.cache_dir={model_cache}",
        "student.dtype=float32",
        "train.max_tokens=256",
    ]
    logs = []
    params = load_params("smoke", None, over)
    first = student_base(params, log=logs.append)
    assert first.name.startswith("tool-base-") and (first / "model.safetensors").exists()
    assert not (first / "tft_render.json").exists()  # its students render with the study's tools
    stamp = fresh.read(first)
    assert stamp["services"] and json.loads((first / "train_stats.json").read_text())["steps"] == 2
    logs.clear()
    assert student_base(params, log=logs.append) == first and not any("tool base:" in x for x in logs)
    assert fresh.read(first)["digest"] == stamp["digest"]
    # students adapting their top layers only (train.lora_layers), or at another rate (train.lr,
    # train.loraplus_ratio), or with the fast step or amp, share the base built on every layer at
    # student.tool_base_lr with the default step
    knobs = (
        "train.lora_layers=1",
        "train.lr=3e-3",
        "train.loraplus_ratio=16",
        "train.fast_step=true",
        "train.amp=true",
    )
    for other in knobs:
        student_base(load_params("smoke", None, [*over, other]), log=logs.append)
        assert fresh.read(first)["digest"] == stamp["digest"] and not any("tool base:" in x for x in logs)
    more = load_params("smoke", None, [*over[:1], "student.tool_base_steps=3", *over[2:]])
    student_base(more, log=logs.append)
    assert fresh.read(first)["digest"] != stamp["digest"]
    assert json.loads((first / "train_stats.json").read_text())["steps"] == 3
    # without a tool base the profile's own base is returned, untouched
    plain = load_params("smoke", None, [f"student.cache_dir={model_cache}"])
    assert student_base(plain).name == "smoke-tiny-llama"


def test_a_second_builder_waits_for_the_first_and_reuses_its_base(sgd_dir, model_cache, monkeypatch):
    """Two scenarios trained side by side (`tft run --cluster`) ask for the same base at once:
    one builds it, the other waits on the lock and then reuses it instead of training it again."""
    import threading

    from filelock import FileLock

    from tft_utils.train.tool_base import (
        _build,
        tool_base_fingerprint,
        tool_base_folder,
        tool_base_recipe,
    )

    monkeypatch.setenv("TFT_SGD_DIR", str(sgd_dir))
    over = ["student.tool_base=sgd", "student.tool_base_steps=2", f"student.cache_dir={model_cache}"]
    params = load_params("smoke", None, [*over, "student.dtype=float32", "train.max_tokens=256"])
    base = student_base(load_params("smoke", None, [f"student.cache_dir={model_cache}"]))
    folder = tool_base_folder(params, base)
    held = FileLock(f"{folder}.lock")
    held.acquire()  # "another process" is building
    logs, out = [], {}
    waiter = threading.Thread(target=lambda: out.update(path=student_base(params, log=logs.append)))
    waiter.start()
    waiter.join(timeout=5)
    assert waiter.is_alive() and any("waiting for it" in x for x in logs)
    # the other process builds the base while it holds the lock, then lets go
    convs = tool_base_conversations(sgd_dir)
    built: list[str] = []
    fp = tool_base_fingerprint(params, base, convs)
    _build(folder, fp, convs, tool_base_recipe(params)["train"], params, base, built.append)
    assert waiter.is_alive() and sum("dialogues of" in x for x in built) == 1
    held.release()
    waiter.join(timeout=300)
    # the waiter found it current and reused it: no second build
    assert not waiter.is_alive() and out["path"] == folder and (folder / "model.safetensors").exists()
    assert not any("dialogues of" in x for x in logs)


def test_the_base_trains_at_its_own_rate_with_plain_adamw():
    from tft_utils.train.tool_base import tool_base_recipe

    params = load_params(
        "smoke", None, ["train.lr=3e-3", "train.loraplus_ratio=16", "student.tool_base_lr=2e-3"]
    )
    cfg = tool_base_recipe(params)["train"]
    assert (cfg["lr"], cfg["loraplus_ratio"], cfg["lora_layers"], cfg["seed"]) == (2e-3, 1.0, 0, 0)
    fast = tool_base_recipe(load_params("smoke", None, ["train.fast_step=true"]))["train"]
    assert fast["fast_step"] is False and fast == tool_base_recipe(load_params("smoke"))["train"]


def test_the_base_keeps_its_own_sequence_length_when_one_is_set():
    """`student.tool_base_max_tokens` pins the base's sequences, so students trained on whole
    conversations (a larger `train.max_tokens`) share the base of the default recipe; null follows
    the students' `train.max_tokens`, as before."""
    from tft_utils.train.tool_base import tool_base_recipe

    pinned = ["student.tool_base_max_tokens=300"]
    a = tool_base_recipe(load_params("smoke", None, [*pinned, "train.max_tokens=512"]))
    b = tool_base_recipe(load_params("smoke", None, [*pinned, "train.max_tokens=4096"]))
    assert a == b and a["train"]["max_tokens"] == 300
    c = tool_base_recipe(load_params("smoke", None, ["train.max_tokens=4096"]))
    assert c["train"]["max_tokens"] == 4096
    with pytest.raises(ParamsError, match="tool_base_max_tokens"):
        load_params("smoke", None, ["student.tool_base_max_tokens=8"])
