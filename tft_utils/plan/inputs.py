"""`tft plan`'s view of the data a run will read: the dataset and scenario traces rebuilt in memory from
the local SGD files (never downloaded), and what cleaning (03) keeps - from the run's current outputs
when they exist, else from the rules algorithms standing in for LLM roles whose replies are not known yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tft_utils.core.io import DataError, read_jsonl

RULES_PROXY = ("result_grounded", "state_tracker")  # the rules committee that stands in for LLM members


def is_endpoint(spec) -> bool:
    """A role naming an endpoint (not `rules` / `rules:<algorithm>`)."""
    return isinstance(spec, str) and spec != "rules" and not spec.startswith("rules:")


@dataclass
class Data:
    folder: Path
    source: str  # "rebuilt from <sgd>" | "run outputs"
    sgd_dir: Path | None


def dataset(params: dict, run_dir: Path, tmp: Path) -> Data:
    """The dataset 01 would write: rebuilt from the local SGD files (never downloaded), else the run's."""
    from tft_utils.data.sgd import resolve_sgd_dir
    from tft_utils.data.traces import build_dataset

    d = params["data"]
    try:
        sgd = resolve_sgd_dir(d["sgd_dir"], None)  # url None: a plan never downloads
    except DataError as e:
        sgd = None
        why = str(e)
    if sgd is not None:
        folder = Path(tmp) / "data"
        build_dataset(
            sgd, folder, d["service"], d["test_set"], d["published_test"], d["test_ids"], d["excluded_ids"]
        )
        return Data(folder, f"rebuilt from {sgd}", sgd)
    folder = run_dir / "data"
    if all((folder / f).exists() for f in ("train_pool.jsonl", "test_pairs.jsonl", "tools.json")):
        return Data(folder, "run outputs", None)
    raise DataError(f"tft plan works offline and found no data: {why}; or run `tft data` first")


def scenario_traces(scenario: str, data: Data, params: dict, paths: dict) -> list[dict]:
    """The scenario's traces as 02 would write them (rebuilt; or the run's, without SGD files)."""
    from tft_utils.data.scenarios import make_scenario
    from tft_utils.data.traces import load_traces

    if data.sgd_dir is None and paths["traces"].exists():
        return load_traces(paths["traces"])
    if data.sgd_dir is None and scenario not in ("s1", "s4"):  # the others read more SGD services
        raise DataError(f"{scenario}: no SGD files to build it from and no {paths['traces']}")
    return make_scenario(scenario, data.folder, data.sgd_dir, params, params["run"]["seed"])[0]


@dataclass
class Cleaned:
    """What 03 works on and hands to 04, from the run's current outputs or the rules algorithms."""

    traces: list[dict]
    kept_in: list[dict]  # the traces the filter keeps, before alignment
    aligned: list[dict] | None
    turns: list[dict] | None  # one row per assistant turn of the aligned traces (masked ones disputed)
    kept: list[dict]  # the cleaned traces: 04's seeds and the TFT student's
    source: str  # "run outputs" | "rules estimate"
    exact_filter: bool
    exact_turns: bool


def clean_view(traces: list[dict], params: dict, paths: dict, need_aligned: bool) -> Cleaned:
    from tft_utils.clean import pipeline as clean
    from tft_utils.clean.align import align
    from tft_utils.clean.filter import score_traces
    from tft_utils.clean.relabel import relabel_traces
    from tft_utils.core import fresh

    roles = params["roles"]
    out = paths["clean"]
    files = ("scores.jsonl", "turns.jsonl", "kept.jsonl")
    if paths["traces"].exists() and all((out / f).exists() for f in files):
        if fresh.why_stale(out, clean.fingerprint(paths["traces"], params)) is None:
            scores = read_jsonl(out / "scores.jsonl")
            kept_in = [t for t, s in zip(traces, scores, strict=True) if s["kept"]]
            aligned = align(kept_in, params["align"])[0] if need_aligned else None
            return Cleaned(
                traces,
                kept_in,
                aligned,
                read_jsonl(out / "turns.jsonl"),
                read_jsonl(out / "kept.jsonl"),
                "run outputs",
                True,
                True,
            )
    scores = score_traces(traces, params, None)  # the rules filter (an LLM filter's stand-in)
    kept_in = [t for t, s in zip(traces, scores, strict=True) if s["kept"]]
    if not need_aligned:
        return Cleaned(
            traces, kept_in, None, None, kept_in, "rules estimate", not is_endpoint(roles["filter"]), False
        )
    aligned = align(kept_in, params["align"])[0]
    rules = [m.split(":", 1)[1] for m in roles["committee"] if not is_endpoint(m)]
    proxy = rules if len(rules) == len(roles["committee"]) else list(RULES_PROXY)
    turns = relabel_traces(aligned, params, [(name, None) for name in proxy], None)
    exact_turns = len(rules) == len(roles["committee"]) and not is_endpoint(roles["filter"])
    return Cleaned(
        traces,
        kept_in,
        aligned,
        turns,
        clean.apply_decisions(aligned, turns),
        "rules estimate",
        not is_endpoint(roles["filter"]),
        exact_turns,
    )


def sample_seeds(rows: list[dict], n_seeds: int, seed: int) -> list[dict]:
    """`synth.seed_rows` on rows in memory: the seeds 04 gives the teacher."""
    if len(rows) > n_seeds:
        rows = sorted(random.Random(seed).sample(rows, n_seeds), key=lambda r: r["dialogue_id"])
    return rows
