"""Parameters: `params/defaults.yaml` <- profile <- scenario <- command-line overrides.

Each layer is a short diff over the one before (alignment-handbook style). Layers are deep-merged;
a key that is not in the defaults, or a value whose type differs from the default's, is rejected
with the layer and the dotted key named, so a typo never silently does nothing.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tft_utils.core.paths import REPO

PARAMS_DIR = REPO / "params"
PROFILES = ("cpu", "teach", "paper", "smoke")
SCENARIOS = ("s1", "s2", "s3", "s4", "s5")


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ParamsError(ValueError):
    pass


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True  # null in the defaults means "any type, optional"
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float) and isinstance(value, int):
        return True  # 1 where 1.0 was expected is fine
    return isinstance(value, type(default))


def deep_merge(base: dict, diff: dict, layer: str, prefix: str = "") -> dict:
    """Return base updated by diff; unknown keys and type changes raise ParamsError."""
    out = copy.deepcopy(base)
    for key, value in (diff or {}).items():
        dotted = f"{prefix}{key}"
        if key not in out:
            known = ", ".join(sorted(out)) or "(none)"
            raise ParamsError(f"{layer}: unknown key '{dotted}' (known here: {known})")
        if isinstance(out[key], dict) and out[key] and isinstance(value, dict):
            out[key] = deep_merge(out[key], value, layer, dotted + ".")
        elif not _type_ok(out[key], value):
            raise ParamsError(
                f"{layer}: '{dotted}' must be {type(out[key]).__name__} "
                f"like the default {out[key]!r}, got {type(value).__name__} {value!r}"
            )
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_yaml(path: Path) -> dict:
    if not path.exists():
        raise ParamsError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data


def parse_override(text: str) -> dict:
    """'a.b.c=value' -> {'a': {'b': {'c': value}}}; the value is read as YAML (1, true, [a, b])."""
    if "=" not in text:
        raise ParamsError(f"override '{text}': expected key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else ""
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; on a command line it is a number
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_params(
    profile: str | None = None,
    scenario: str | None = None,
    overrides: Iterable[str | dict] = (),
    params_dir: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
) -> dict:
    """Resolve the parameters of one run. `profile` defaults to the embedded `cpu`. `run_dir`
    (outputs/<run>, as a notebook's RUN_DIR) sets `run.name` and `run.outputs`, so the provenance a
    notebook records names the run it belongs to, not the default's."""
    pdir = Path(params_dir) if params_dir else PARAMS_DIR
    params = _load_yaml(pdir / "defaults.yaml")
    profile = profile or params["run"]["profile"]
    if profile not in PROFILES and not (pdir / "profiles" / f"{profile}.yaml").exists():
        raise ParamsError(f"unknown profile '{profile}' (choose from {', '.join(PROFILES)})")
    params = deep_merge(params, _load_yaml(pdir / "profiles" / f"{profile}.yaml"), f"profile {profile}")
    params["run"]["profile"] = profile
    if scenario:
        scenario = scenario.lower()
        if scenario not in SCENARIOS:
            raise ParamsError(f"unknown scenario '{scenario}' (choose from {', '.join(SCENARIOS)})")
        params = deep_merge(
            params, _load_yaml(pdir / "scenarios" / f"{scenario}.yaml"), f"scenario {scenario}"
        )
        params["scenario"]["id"] = scenario
    for ov in overrides:
        diff = ov if isinstance(ov, dict) else parse_override(ov)
        params = deep_merge(params, diff, f"override {ov}")
    from tft_utils.core.params_check import check

    check(params, f"params (profile {profile}{', scenario ' + scenario if scenario else ''})")
    if run_dir is not None:
        params["run"]["name"] = Path(run_dir).name
        params["run"]["outputs"] = str(Path(run_dir).parent)
    return params


def get(params: dict, dotted: str) -> Any:
    node = params
    for part in dotted.split("."):
        node = node[part]
    return node


def seed_of(params: dict, section: str) -> int:
    """A section's own seed (`train.seed`, `evaluate.seed`), else the run's: one seed moves every draw."""
    own = params[section]["seed"]
    return params["run"]["seed"] if own is None else own


def add_params_args(p: argparse.ArgumentParser) -> None:
    """--profile/--scenario/-p overrides, shared by every command that reads params."""
    p.add_argument("--profile", default=None, help="cpu | teach | paper | smoke (default: cpu)")
    p.add_argument("--params-scenario", dest="params_scenario", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--params",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --params run.seed=1 (repeatable)",
    )
    p.add_argument("-p", dest="overrides", action="append", metavar="KEY=VALUE", help="same as --params")


def params_from_args(args: argparse.Namespace, scenario: str | None = None) -> dict:
    """The parameters a command's arguments ask for (`add_params_args`)."""
    return load_params(args.profile, scenario or getattr(args, "params_scenario", None), args.overrides)
