"""The schema of a scenario's `results.json`: written by notebook 06 (`compare.scenario_results` +
`compare.record`), read by notebook 07, the report and the CLI, always through `ScenarioResults`.

    ScenarioResults
      schema_version, scenario, profile, student, judge, test_set, seeds, roles
      interval  Interval               what the 95% intervals resample, in words for the report
      metrics   {arm: {metric: ArmMetric}}   arm: base | direct | tft | teacher
      paired    {metric: Paired}       TFT - Direct on the same pairs (empty with one trained arm)
      per_function, confusion, error_types   tables of the pooled predictions (free-form dicts)
      service_calls    {arm: [counts of each seed]}  the service-call pairs judged good / right
                       function / exact (`evaluate.score.service_calls`; absent in older files)
      stages, provenance               what 03/04 recorded; params, seed, commit, versions, machine

`ScenarioResults.read` checks every field and its type and names the first that is wrong, e.g.
`outputs/x/s1/results.json: metrics.tft.llm_as_a_judge.ci_low: expected a number, got 'n/a'`; a file
without `schema_version` (written before the schema) or with another version is refused with a
message saying to rerun stage 06.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tft_utils.core.io import DataError, read_json, write_json

SCHEMA_VERSION = 2  # 2: the t intervals for few seeds (t_ci_low, t_ci_high, seed_df, t_verdict)


@dataclass
class ArmMetric:
    """One arm, one metric: the mean over seeds and test pairs with its two-level bootstrap interval."""

    mean: float
    ci_low: float
    ci_high: float
    seeds: list[int] | None  # training seeds (None: the untrained base or an endpoint teacher)
    per_seed: list[float]
    seed_sd: float | None  # None with one seed: no spread measured
    pairs: int
    conversations: int
    resampled: str  # "test conversations" or "test conversations and training seeds"
    # widened for few seeds (stats.t_interval): Student's t on the seeds' df; None: no seed variance seen
    t_ci_low: float
    t_ci_high: float
    seed_df: float | None


@dataclass
class Paired:
    """TFT - Direct on the pairs both scored (paired two-level bootstrap)."""

    metric: str
    diff: float
    ci_low: float
    ci_high: float
    p_not_better: float
    verdict: str  # "TFT ahead" | "TFT behind" | "no difference detected"
    min_detectable_diff: float  # smallest |diff| detected with 80% power (~1.43 x half-width)
    pairs: int
    conversations: int
    unmatched_a: int
    unmatched_b: int
    seeds_a: int
    seeds_b: int
    per_seed: list[float]  # TFT seed i - Direct seed i
    seed_sd: float | None
    resampled: str
    # the interval widened for few seeds (stats.t_interval), its verdict and detectable difference
    t_ci_low: float
    t_ci_high: float
    t_verdict: str
    t_min_detectable_diff: float
    seed_df: float | None  # the t's degrees of freedom (Welch-Satterthwaite); None: no seed variance seen
    seeds: dict[str, list[int] | None]  # {tft: [...], direct: [...]}


@dataclass
class Interval:
    ci: float
    bootstrap_samples: int
    over: str
    seeds_per_arm: dict[str, int]
    text: str  # one plain sentence for the reader


@dataclass
class ScenarioResults:
    scenario: str
    profile: str
    student: str
    judge: str
    test_set: str
    seeds: list[int]
    roles: dict
    interval: Interval
    metrics: dict[str, dict[str, ArmMetric]]
    paired: dict[str, Paired]
    per_function: dict[str, dict]
    confusion: dict[str, dict]
    error_types: dict[str, dict[str, int]]
    stages: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    service_calls: dict[str, list[dict[str, int]]] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # ------------------------------------------------------------------ reading and writing

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data, where: str = "results") -> ScenarioResults:
        if not isinstance(data, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version is None:
            raise DataError(
                f"{where}: no schema_version (written by an older tft-study); rerun stage 06 to rewrite it"
            )
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{where}: schema_version {version!r}, this code reads {SCHEMA_VERSION}; rerun stage 06"
            )
        return _build(cls, data, where, "")

    @classmethod
    def read(cls, path: str | Path) -> ScenarioResults:
        return cls.from_dict(read_json(path), str(path))

    # ------------------------------------------------------------------ conveniences for the report

    def arm_seeds(self, metric: str = "llm_as_a_judge") -> dict[str, int]:
        """{arm: number of training seeds} for the trained arms."""
        return {
            arm: len(self.metrics[arm][metric].per_seed) or 1
            for arm in ("tft", "direct")
            if metric in self.metrics.get(arm, {})
        }


# --------------------------------------------------------------------------- checked construction


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _build(cls, data: dict, where: str, prefix: str):
    if not isinstance(data, dict):
        raise DataError(f"{where}: {prefix.rstrip('.') or 'results'}: expected an object, got {_show(data)}")
    hints, kwargs = _hints(cls), {}
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise DataError(f"{where}: {name}: missing")
        kwargs[f.name] = _value(hints[f.name], data[f.name], where, name)
    return cls(**kwargs)


def _value(tp, v, where: str, name: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, v, where, name)
    if dataclasses.is_dataclass(tp):
        return _build(tp, v, where, name + ".")
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise DataError(f"{where}: {name}: expected an object, got {_show(v)}")
        if not args:
            return v
        return {k: _value(args[1], x, where, f"{name}.{k}") for k, x in v.items()}
    if origin is list:
        if not isinstance(v, list):
            raise DataError(f"{where}: {name}: expected a list, got {_show(v)}")
        return [_value(args[0], x, where, f"{name}[{i}]") for i, x in enumerate(v)]
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DataError(f"{where}: {name}: expected a number, got {_show(v)}")
        return float(v)
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise DataError(f"{where}: {name}: expected an integer, got {_show(v)}")
        return v
    if tp is str:
        if not isinstance(v, str):
            raise DataError(f"{where}: {name}: expected a string, got {_show(v)}")
        return v
    return v


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
