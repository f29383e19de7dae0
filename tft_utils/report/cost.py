"""What a run cost: each student's training tokens, time and speed, and the machine it trained on; each
model's prediction of the test pairs, its time, speed and machine.

Read from what notebook 05 recorded (`<scenario>/05_results.json`, one row per arm x seed, copied from
each model's `train_stats.json`), so a student reused from an earlier session still reports the time it
took when it was trained, and a run assembled over several sessions adds up to its real cost. The
tool-calling base is trained once per machine and shared by every student: it is shown once, apart.
Predictions: the record notebook 06 keeps beside each predictions file (`predicted` in its
fingerprint sidecar, evaluate/compare.py); a prediction resumed after an interruption records the part
its last call did. An endpoint teacher's answers are costed in its call ledger, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# minutes: the model's own; at_once: how many models ran side by side on the machine then (run.jobs), so the
# machine's time is about minutes / at_once
COLUMNS = ["scenario", "arm", "seed", "steps", "tokens", "minutes", "at_once", "tokens_per_s", "machine"]
PREDICT_COLUMNS = ["scenario", "model", "pairs", "minutes", "at_once", "pairs_per_s", "machine"]


def machine_text(machine: dict | None) -> str:
    """'AMD EPYC (avx2), 2 threads' from a recorded `machine_info()`; a GPU is named by its device."""
    if not machine:
        return "unknown"
    if machine.get("cuda_device"):
        return str(machine["cuda_device"])
    cpu = machine.get("cpu") or {}
    isa = [f for f, on in (cpu.get("isa") or {}).items() if on]
    threads = machine.get("torch_threads")
    text = f"{cpu.get('model') or 'CPU'} ({', '.join(isa) or 'no avx2'})"
    return text + (f", {threads} thread{'s' * (threads != 1)}" if threads else "")


def _row(scenario: str, stats: dict) -> dict:
    return {
        "scenario": scenario,
        "arm": stats.get("arm"),
        "seed": stats.get("seed"),
        "steps": stats.get("steps"),
        "tokens": stats.get("tokens"),
        "minutes": round(stats["seconds"] / 60, 1) if stats.get("seconds") is not None else None,
        "at_once": stats.get("jobs") or 1,
        "tokens_per_s": stats.get("tokens_per_s"),
        "machine": f"{machine_text(stats.get('machine'))}, {stats.get('dtype') or '?'}",
    }


def training_cost(run_dir: str | Path, scenarios) -> pd.DataFrame:
    """One row per trained student of the run: scenario, arm, seed, steps, tokens, minutes, tokens/s,
    machine. Scenarios without a 05 record (not trained yet, or Direct-only runs' missing arm) are skipped."""
    rows = []
    for s in scenarios:
        path = Path(run_dir) / s / "05_results.json"
        if path.exists():
            rows += [_row(s, t) for t in json.loads(path.read_text(encoding="utf-8")).get("training", [])]
    return pd.DataFrame(rows, columns=COLUMNS)


def tool_base_cost(folder: str | Path | None) -> dict | None:
    """The shared tool-calling base's training record (None when the profile uses none or it is absent)."""
    stats = Path(folder) / "train_stats.json" if folder else None
    if stats is None or not stats.exists():
        return None
    return _row("(all)", {**json.loads(stats.read_text(encoding="utf-8")), "arm": "tool base"})


def prediction_cost(run_dir: str | Path, scenarios) -> pd.DataFrame:
    """One row per model this run predicted (the untuned base once, as scenario "(all)"): pairs, minutes,
    pairs/s, machine; files without a record (an endpoint's, or written before records) are skipped."""
    from tft_utils.core import fresh

    run_dir = Path(run_dir)
    found = [("(all)", p) for p in sorted((run_dir / "base").glob("predictions-*.jsonl"))]
    for s in scenarios:
        found += [(s, p) for p in sorted((run_dir / s / "predictions").glob("*.jsonl"))]
    rows = []
    for scenario, path in found:
        if path.name.endswith(".scored.jsonl"):  # the scores beside a model's predictions
            continue
        rec = (fresh.read(path) or {}).get("predicted")
        if rec and rec.get("seconds") is not None:
            rows.append(
                {
                    "scenario": scenario,
                    "model": "base" if scenario == "(all)" else path.stem,
                    "pairs": rec.get("predicted"),
                    "minutes": round(rec["seconds"] / 60, 1),
                    "at_once": rec.get("jobs") or 1,
                    "pairs_per_s": rec.get("pairs_per_s"),
                    "machine": f"{machine_text(rec.get('machine'))}, {rec.get('dtype') or '?'}",
                }
            )
    return pd.DataFrame(rows, columns=PREDICT_COLUMNS)


def cost_text(cost: pd.DataFrame, base: dict | None = None, predictions: pd.DataFrame | None = None) -> str:
    """Plain words: students, tokens, hours of training and the mean speed; the base once, apart; then
    the models' predictions."""
    text = _training_text(cost, base)
    if predictions is not None and not predictions.empty:
        minutes, pairs = _machine_minutes(predictions), int(predictions["pairs"].sum())
        text += (
            f" Predicting the test pairs took {minutes:.0f} min{_side_by_side(predictions, 'min')} for "
            f"{len(predictions)} models ({pairs:,} pairs"
            + (f", {pairs / (minutes * 60):.2f} pairs/s overall)." if minutes else ").")
        )
    per_seed = seed_minutes(cost, predictions)
    if per_seed:
        minutes, what, first = per_seed
        if first is None:
            text += f" Each training seed cost {minutes:.0f} min ({what})."
        else:
            text += (
                f" Each training seed after the first cost {minutes:.0f} min ({what}, the mean over those "
                f"seeds; the first cost {first:.0f} min)."
            )
    return text


def seed_minutes(
    cost: pd.DataFrame, predictions: pd.DataFrame | None = None
) -> tuple[float, str, float | None] | None:
    """What one more training seed costs: the minutes of one seed's students (every scenario and arm) and,
    when each of them has its prediction recorded, their predictions, as (minutes, what they cover, the
    first seed's minutes). With several seeds, the mean over those after the first: notebook 05 trains an
    arm's seeds in turn, and a later seed's students start most passes from the frozen bottom's outputs
    that earlier ones kept (train/bottom.py), as one more seed would; the first is given apart (None with
    one seed). None without students."""
    if cost.empty:
        return None
    # the machine's minutes, in the order trained
    per = (cost["minutes"] / cost["at_once"]).groupby(cost["seed"], sort=False).sum()
    what = f"training its {len(cost) // per.size} students"
    if predictions is not None and not predictions.empty:
        # a student's predictions are its scenario's "<arm>-seed<N>" row
        students = set(cost["scenario"] + "/" + cost["arm"] + "-seed" + cost["seed"].astype(str))
        theirs = predictions[(predictions["scenario"] + "/" + predictions["model"]).isin(students)]
        if len(theirs) == len(students):
            seed = theirs["model"].str.extract(r"-seed(\d+)$")[0].astype(int)
            per = per.add((theirs["minutes"] / theirs["at_once"]).groupby(seed).sum(), fill_value=0)
            what += " and predicting with them"
    if per.size == 1:
        return float(per.iloc[0]), what, None
    return float(per.iloc[1:].mean()), what, float(per.iloc[0])


def _machine_minutes(frame: pd.DataFrame) -> float:
    """The machine's minutes: each model's own divided by how many ran side by side with it."""
    return float((frame["minutes"] / frame["at_once"]).sum())


def _side_by_side(frame: pd.DataFrame, unit: str) -> str:
    """' (2 at a time, run.jobs: 9.4 h of their own)' when models ran side by side, else ''."""
    most = int(frame["at_once"].max())
    if most <= 1:
        return ""
    own = frame["minutes"].sum()
    own_text = f"{own / 60:.1f} h" if unit == "h" else f"{own:.0f} min"
    return f" ({most} at a time, run.jobs: {own_text} of their own)"


def _training_text(cost: pd.DataFrame, base: dict | None) -> str:
    if cost.empty:
        return "No student of this run recorded its training."
    minutes = _machine_minutes(cost)
    tokens = int(cost["tokens"].sum())
    machines = ", ".join(sorted(set(cost["machine"])))
    text = (
        f"{len(cost)} students trained on {tokens / 1e6:.2f}M tokens in {minutes / 60:.1f} h{_side_by_side(cost, 'h')} "
        + (f"({tokens / (minutes * 60):.0f} tokens/s overall) " if minutes else "")  # smoke: under 0.05 min
        + f"on {machines}."
    )
    if base:
        text += (
            f" The tool-calling base every student starts from took {base['minutes']} min "
            f"({base['tokens'] / 1e3:.0f}k tokens), once per machine; it is not in the sum."
        )
    return text


def run_cost(run_dir: str | Path, scenarios, params: dict) -> tuple[pd.DataFrame, dict | None, pd.DataFrame]:
    """The run's students (`training_cost`), the shared tool base when the profile uses one, and the
    models' predictions (`prediction_cost`)."""
    from tft_utils.train.tool_base import tool_base_folder

    uses_base = params["student"]["tool_base"] != "none"
    base = tool_base_cost(tool_base_folder(params) if uses_base else None)
    return training_cost(run_dir, scenarios), base, prediction_cost(run_dir, scenarios)
