"""A tool-calling base student, built once from SGD services the study never uses.

The published student (Qwen3-1.7B) already knows how to call tools; SmolLM2-135M barely does, so each
of the study's students spends part of its budget learning the call format, when to call a service
and how to copy values from the user's words. With `student.tool_base: sgd` that is learnt once, before
any student, from the single-service SGD dialogues of every service but Restaurants_* and Hotels_*
(no restaurant or hotel data: those are the study's domain and S5's foreign traffic), each dialogue
rendered with its own service's tools and a task prompt naming its domain. Both arms then start from
this base. It is cached like the dequantized copy (rebuilt when the base model, the dialogues, its
recipe or the training/rendering code change) and its cost is paid once per machine.

    # 13 services, ~560 dialogues (the shipped subset); train.* recipe with its own step budget
"""

from __future__ import annotations

import json
from pathlib import Path

from tft_utils.train.loop import NOT_IN_WEIGHTS
from tft_utils.train.render import TASK_PROMPT

EXCLUDED = ("Restaurants_", "Hotels_")
# where the code that shapes the base starts: it and what it imports (fresh.code_of: the loop, SGD's reader, ...)
BUILD_ROOTS = ("train/tool_base.py",)


def other_services(sgd_dir) -> list[str]:
    """Service names of every split's schema, less the excluded domains."""
    from tft_utils.core.io import read_json
    from tft_utils.data.sgd import SPLITS

    names = set()
    for split in SPLITS:
        path = Path(sgd_dir) / split / "schema.json"
        if path.exists():
            names |= {svc["service_name"] for svc in read_json(path)}
    return sorted(n for n in names if not n.startswith(EXCLUDED))


def domain_prompt(service: str) -> str:
    """TASK_PROMPT with the service's domain in place of restaurants: 'Events_2' -> 'events'."""
    domain = service.split("_")[0].lower()
    return TASK_PROMPT.replace("a restaurant booking assistant", f"an assistant for {domain}")


def tool_base_conversations(sgd_dir) -> list[dict]:
    """Every single-service dialogue of the other services (any split: the study's test set is
    Restaurants_1 only), with its service's tools and task prompt."""
    from tft_utils.data.sgd import load_dialogues_of, load_schema
    from tft_utils.data.traces import dialogue_to_trace, tools_from_schema

    convs = []
    by_service = load_dialogues_of(sgd_dir, other_services(sgd_dir))
    for service, dialogues in by_service.items():
        if not dialogues:
            continue
        tools = tools_from_schema(load_schema(sgd_dir, service))
        for d in dialogues:
            trace = dialogue_to_trace(d)
            convs.append({**trace, "tools": tools, "task_prompt": domain_prompt(service)})
    return convs


def student_base(params: dict, log=print) -> Path | str:
    """The model both arms start from: the profile's base, or (student.tool_base: sgd) the tool base."""
    from tft_utils.train.student import base_model_dir

    st = params["student"]
    base = base_model_dir(st["model"], st["cache_dir"])
    if st["tool_base"] == "none":
        return base
    if st["tool_base"] != "sgd":
        raise ValueError(f"student.tool_base must be none or sgd, got {st['tool_base']!r}")
    return tool_base_dir(params, base, log)


def tool_base_recipe(params: dict) -> dict:
    """What shapes the base besides its data and code: the students' recipe (train.*) with its own
    budget, learning rate and seed 0 (one base shared by every seed and arm), on the students' device
    and dtype.

    Adapters on every layer whatever the students' `train.lora_layers`, plain AdamW at
    `student.tool_base_lr` whatever their `train.lr` / `train.loraplus_ratio`, and the default step
    whatever their `train.fast_step` / `train.amp`, and sequences of `student.tool_base_max_tokens`
    (null: their `train.max_tokens`): the base is paid once for all students and measured as built,
    so students trained with any of these knobs start from the same base, byte for byte. One built
    on the top 15 of 30 taught the call format less well (S1, students on the top 15 x 700 steps:
    right function 57-61 of 72 from it, 65-69 from the every-layer base); one built with the fast
    step rounds differently (sha256 802cbdb2... vs d0ca0a21...) and its S1 students made 35 / 31 of
    72 judged good where the same students from the default base made 39 / 34 (docs/experiments.md,
    "A faster step")."""
    st = params["student"]
    own = {
        "max_steps": st["tool_base_steps"],
        "lr": st["tool_base_lr"],
        "loraplus_ratio": 1.0,
        "fast_step": False,
        "amp": False,
        "max_tokens": st["tool_base_max_tokens"] or params["train"]["max_tokens"],
    }
    return {
        "train": {**params["train"], **own, "seed": 0, "lora_layers": 0},
        "student": {k: st[k] for k in ("device", "dtype")},
    }


def tool_base_fingerprint(params: dict, base, convs: list[dict]) -> dict:
    """The base's fingerprint: its recipe, the model it starts from, its dialogues and its code."""
    from tft_utils.core import fresh

    recipe = tool_base_recipe(params)
    recipe["train"] = {k: v for k, v in recipe["train"].items() if k not in NOT_IN_WEIGHTS}
    return fresh.make(
        "tool-base",
        recipe,
        {"base": base},
        seed=0,
        code=fresh.code_of(*BUILD_ROOTS),
        data={"conversations": convs},
    )


def tool_base_folder(params: dict, base=None) -> Path:
    """Where the base is cached: beside the base model's dequantized copy, named after it."""
    from tft_utils.train.student import base_model_path, cache_root

    st = params["student"]
    base = base_model_path(st["model"], st["cache_dir"]) if base is None else base
    return cache_root(st["cache_dir"]) / f"tool-base-{Path(str(base)).name}"


def tool_base_ready(folder: Path, fp: dict) -> bool:
    """The rule a run applies before training the base again (and `tft plan` before counting it)."""
    from tft_utils.core import fresh

    return fresh.why_stale(folder, fp) is None and (folder / "config.json").exists()


def built_tool_base(params: dict, base, convs: list[dict]) -> Path | None:
    """The cached base's folder when a run would reuse it, else None (for `tft plan`, which never builds)."""
    folder = tool_base_folder(params, base)
    return folder if tool_base_ready(folder, tool_base_fingerprint(params, base, convs)) else None


def tool_base_dir(params: dict, base, log=print) -> Path:
    from tft_utils.data.sgd import resolve_sgd_dir

    sgd = resolve_sgd_dir(params["data"]["sgd_dir"], params["data"]["sgd_url"], log=log)
    convs = tool_base_conversations(sgd)
    cfg = tool_base_recipe(params)["train"]
    fp = tool_base_fingerprint(params, base, convs)
    folder = tool_base_folder(params, base)
    if tool_base_ready(folder, fp):
        return folder
    # Scenarios trained side by side (`tft run --cluster`, two runs on one machine) share this folder
    from tft_utils.core.locks import exclusive

    with exclusive(folder, "tool base", log):
        if not tool_base_ready(folder, fp):  # built by the process we waited for
            _build(folder, fp, convs, cfg, params, base, log)
    return folder


def _build(folder: Path, fp: dict, convs: list[dict], cfg: dict, params: dict, base, log) -> None:
    from tft_utils.core import fresh
    from tft_utils.train.loop import train
    from tft_utils.train.render import RENDER_FILE

    services = sorted({c["service"] for c in convs})
    log(
        f"tool base: {len(convs)} dialogues of {len(services)} services, {cfg['max_steps']} steps -> {folder}"
    )
    fresh.begin(folder, fp, leftovers=[folder])
    stats = train(convs, folder, {**params, "train": cfg}, tools=[], base=base)
    (folder / RENDER_FILE).unlink(missing_ok=True)  # its students render with the study's own tools
    fresh.stamp(folder, {**fp, "services": services, "train_seconds": stats["seconds"]})


def conversation_key(conv: dict) -> str:
    return json.dumps([conv.get("tools"), conv.get("task_prompt")], sort_keys=True)
