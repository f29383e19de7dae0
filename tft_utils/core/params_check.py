"""Ranges and choices of the parameters, checked once when they are resolved (before any stage runs).

Each rule names a dotted key (`*` matches one level) and what it allows; a value outside it raises
ParamsError naming the key, the value and what is allowed. Every numeric key of params/defaults.yaml
has a rule (tests/unit/core/test_params.py checks it), so a new key needs one here.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase

INF = math.inf
# key pattern -> (low, high, low inclusive, high inclusive); applied to each number of a list too
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "run.seed": (0, INF, True, False),
    "run.seeds": (0, INF, True, False),
    "run.jobs": (1, INF, True, False),  # models trained / predicted side by side
    "scenario.*.clean_fraction": (0, 1, True, True),
    "scenario.s2.p_corrupt": (0, 1, True, True),
    "scenario.s2.service_kinds.*": (0, INF, True, False),
    "scenario.s2.respond_kinds.*": (0, INF, True, False),
    "scenario.s3.n_r*": (0, INF, True, False),
    "scenario.s4.n": (1, INF, True, False),
    "scenario.s5.n_*": (0, INF, True, False),
    "backends.endpoint_defaults.sampling.temperature": (0, 2, True, True),
    "backends.endpoint_defaults.sampling.max_tokens": (1, INF, True, False),
    "backends.endpoint_defaults.concurrency": (1, INF, True, False),
    "backends.endpoint_defaults.timeout": (0, INF, False, False),
    "backends.endpoint_defaults.max_retries": (0, INF, True, False),
    "synth.n": (1, INF, True, False),
    "synth.n_seeds": (1, INF, True, False),
    "synth.max_candidates_factor": (1, INF, True, False),
    "synth.batch": (1, INF, True, False),
    "synth.examples_per_prompt": (1, INF, True, False),
    "synth.mint_share": (0, 1, True, True),
    "synth.topics.*.weight": (0, INF, True, False),
    "synth.topics.*.m*_turns": (1, INF, True, False),
    "validate.max_turns": (1, INF, True, False),
    "validate.max_messages": (1, INF, True, False),
    "validate.ngram": (1, INF, True, False),
    "validate.dup_*": (0, 1, True, True),
    "validate.min_judge": (1, 5, True, True),
    "evaluate.bootstrap_samples": (1, INF, True, False),
    "evaluate.ci": (0, 1, False, False),
    "evaluate.seed": (0, INF, True, False),  # null: run.seed
    "student.tool_base_steps": (1, INF, True, False),
    "student.tool_base_lr": (0, 1, False, True),
    "student.tool_base_max_tokens": (16, INF, True, False),
    "train.max_tokens": (16, INF, True, False),
    "train.max_steps": (0, INF, True, False),
    "train.epochs": (0, INF, True, False),
    "train.conversations_per_step": (1, INF, True, False),
    "train.micro_batch": (1, INF, True, False),
    "train.pad_multiple": (1, INF, True, False),
    "train.call_weight": (0, INF, True, False),
    "train.lr": (0, 1, False, True),
    "train.loraplus_ratio": (1, INF, True, False),
    "train.warmup_steps": (0, INF, True, False),
    "train.lora_r": (1, INF, True, False),
    "train.lora_alpha": (0, INF, False, False),
    "train.lora_dropout": (0, 1, True, False),
    # train.lora_layers: the top N decoder layers adapted; 0 (or N past the model's depth): all of them
    "train.lora_layers": (0, INF, True, False),
    "train.seed": (0, INF, True, False),  # null: run.seed
    "train.save_every": (1, INF, True, False),
    "train.shared_bottom_mb": (0, INF, True, False),  # 0: nothing kept
    "predict.*": (1, INF, True, False),
    "plan.chars_per_token": (0, INF, False, False),
    "plan.message_tokens": (0, INF, True, False),
    "plan.reasoning_tokens_per_call": (0, INF, True, False),
    "plan.synth_accept": (0, 1, False, True),
    "plan.*_tokens_per_s": (0, INF, False, False),
    "filter.relevance_min": (1, 5, True, True),
    "filter.coherence_min": (1, 5, True, True),
    "filter.coherence_cuts": (0, INF, True, False),
    "align.*": (0, 1, True, True),
    "relabel.min_agreement": (0, 1, True, True),
    "relabel.time_tolerance_min": (0, INF, True, False),
}
# null in the defaults (any type to the merge): a whole number or null, checked here
SEEDS_OR_NULL = ("train.seed", "evaluate.seed")
CHOICES: dict[str, tuple] = {
    "scenario.id": ("s1", "s2", "s3", "s4", "s5"),
    "data.test_set": ("sgd", "published"),
    "evaluate.judge": ("rubric", "llm"),
    "evaluate.judge_unparseable": ("bad", "rubric"),
    "train.unit": ("conversation", "turn"),
    "train.long_policy": ("split", "truncate"),
    "train.method": ("lora", "full"),
    "train.compile": ("auto", "inductor", "none"),
    "train.tft_data": ("synthetic+seeds", "synthetic", "seeds"),
    "predict.method": ("fast", "naive"),
    "student.dtype": ("auto", "bfloat16", "float32", "float16"),
    "student.tool_base": ("none", "sgd"),
}


def _leaves(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _allowed(low, high, lo_in, hi_in) -> str:
    left, right = "[" if lo_in else "(", "]" if hi_in else ")"
    return f"{left}{low:g}, {high:g}{right}"


def check(params: dict, where: str = "params") -> None:
    """Raise ParamsError for the first value outside its range or choices."""
    from tft_utils.core.params import ParamsError

    for key, value in _leaves(params):
        if (
            key in SEEDS_OR_NULL
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int))
        ):
            raise ParamsError(
                f"{where}: '{key}' is {value!r}; allowed: a whole number >= 0, or null (run.seed)"
            )
        for pattern, choices in CHOICES.items():
            if fnmatchcase(key, pattern) and value not in choices:
                raise ParamsError(f"{where}: '{key}' is {value!r}; allowed: {', '.join(choices)}")
        rule = next((r for p, r in RANGES.items() if fnmatchcase(key, p)), None)
        if rule is None:
            continue
        numbers = value if isinstance(value, list) else [value]
        for x in numbers:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                continue  # types are checked by the merge
            low, high, lo_in, hi_in = rule
            ok = (x >= low if lo_in else x > low) and (x <= high if hi_in else x < high)
            if not ok:
                raise ParamsError(f"{where}: '{key}' is {value!r}; allowed: {_allowed(*rule)}")
    _check_roles(params, where)
    if isinstance(params.get("run", {}).get("seeds"), list) and not params["run"]["seeds"]:
        raise ParamsError(f"{where}: 'run.seeds' is empty; give at least one training seed")
    for name, topic in params.get("synth", {}).get("topics", {}).items():
        if topic["min_turns"] > topic["max_turns"]:
            raise ParamsError(
                f"{where}: 'synth.topics.{name}': min_turns {topic['min_turns']} > max_turns {topic['max_turns']}"
            )


def _check_roles(params: dict, where: str) -> None:
    """Each role is rules (committee: rules:<algorithm>) or the name of an endpoint of backends.endpoints."""
    from tft_utils.core.params import ParamsError

    roles, endpoints = params.get("roles", {}), params.get("backends", {}).get("endpoints") or {}
    algorithms = ("result_grounded", "state_tracker")  # tft_utils.clean.relabel.RULES_MEMBERS
    for role, spec in roles.items():
        for s in spec if isinstance(spec, list) else [spec]:
            ok = s in endpoints or (
                s == "rules" if role != "committee" else s in [f"rules:{a}" for a in algorithms]
            )
            if not ok:
                allowed = ["rules"] if role != "committee" else [f"rules:{a}" for a in algorithms]
                names = ", ".join([*allowed, *endpoints]) or "none"
                raise ParamsError(
                    f"{where}: 'roles.{role}' is {s!r}; allowed: {names} (endpoints: backends.endpoints)"
                )
