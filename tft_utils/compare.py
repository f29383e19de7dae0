"""Notebook 06: predict the test pairs with the untuned base, the Direct and the TFT students
(every training seed), score them, and record the scenario's results for the report (07).

Several seeds per arm: each pair's score is first averaged over seeds, so the intervals and the paired
TFT − Direct difference are over test conversations; the spread over seeds is reported beside them
as the noise floor of training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tft_utils.figures import conversation_text
from tft_utils.io import read_json, read_jsonl, write_json
from tft_utils.score import JUDGE, SCORES, score_file, summarize
from tft_utils.stats import paired_comparison, summary_table

ARMS = ("base", "direct", "tft", "teacher")


def model_dir(paths: dict, arm: str, seed: int) -> Path:
    """Where notebook 05 saves a merged student: models/<arm>-seed<N>."""
    return paths["models"] / f"{arm}-seed{seed}"


def base_predictions_path(paths: dict, params: dict) -> Path:
    # The untuned base is the same model for every scenario: predict it once per run and test set.
    return paths["run"] / "base" / f"predictions-{params['data']['test_set']}.jsonl"


def plan_arms(paths: dict, params: dict, pipelines) -> list[dict]:
    """(arm, seed, model folder, predictions path) for every model this scenario evaluates."""
    from tft_utils.student import base_model_dir

    out = [
        {
            "arm": "base",
            "seed": None,
            "model": str(base_model_dir(params["student"]["model"], params["student"]["cache_dir"])),
            "predictions": base_predictions_path(paths, params),
        }
    ]
    teacher = params["roles"]["teacher"]
    if teacher != "rules":  # an endpoint teacher: asked the same turns, the ceiling of distillation
        out.append(
            {
                "arm": "teacher",
                "seed": None,
                "model": teacher,
                "predictions": paths["predictions"] / "teacher.jsonl",
            }
        )
    for arm in ("direct", "tft"):
        if arm not in pipelines:
            continue
        for seed in params["run"]["seeds"]:
            out.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "model": str(model_dir(paths, arm, seed)),
                    "predictions": paths["predictions"] / f"{arm}-seed{seed}.jsonl",
                }
            )
    return out


def predict_arms(arms: list[dict], pairs_path: Path, params: dict, log=print) -> None:
    """Predict every arm whose predictions are missing or older than its model (resumable)."""
    from tft_utils.predict import predict_file

    # tools.json of the same data folder: the endpoint teacher and the untuned base (which has no
    # rendering recorded by training) are told the tools from it
    tools_path = Path(pairs_path).parent / "tools.json"
    for a in arms:
        if a["arm"] == "teacher":
            from tft_utils.backends import make_client
            from tft_utils.predict_endpoint import predict_endpoint
            from tft_utils.train import load_tools

            log(f"teacher: asking endpoint {a['model']} (cached calls are not sent again)")
            tools = load_tools(tools_path)
            log(predict_endpoint(make_client(params, "teacher"), pairs_path, a["predictions"], tools))
            continue
        pred, model = Path(a["predictions"]), Path(a["model"])
        if a["arm"] != "base" and not model.exists():
            raise FileNotFoundError(f"{a['arm']} seed {a['seed']}: no model at {model} (run notebook 05)")
        # Up to date when written after the model was saved (a Hub id as base: when present at all).
        if pred.exists() and (not model.exists() or pred.stat().st_mtime >= model.stat().st_mtime):
            log(f"{a['arm']} seed {a['seed']}: predictions up to date ({pred})")
            continue
        log(f"{a['arm']} seed {a['seed']}: predicting {pairs_path.name} with {model}")
        predict_file(model, pairs_path, pred, params, tools_path=tools_path)


def score_arms(arms: list[dict], params: dict) -> dict:
    """{arm: [scored rows of each seed]} with the rubric (or configured) judge."""
    scored: dict[str, list[list[dict]]] = {}
    for a in arms:
        out = Path(a["predictions"]).with_suffix(".scored.jsonl")
        rows, _ = score_file(a["predictions"], params["evaluate"]["judge"], out, params, progress=False)
        scored.setdefault(a["arm"], []).append(rows)
    return scored


def seed_mean_rows(runs: list[list[dict]]) -> list[dict]:
    """One row per pair with every score averaged over the seeds (pairs matched by position)."""
    if len(runs) == 1:
        return runs[0]
    out = []
    for rows in zip(*runs, strict=True):
        out.append({**rows[0], **{m: float(np.mean([r[m] for r in rows])) for m in SCORES}})
    return out


def scenario_results(scored: dict, params: dict, scenario: str) -> dict:
    ev = params["evaluate"]
    pooled = {arm: seed_mean_rows(runs) for arm, runs in scored.items()}
    metrics = {
        arm: summary_table(rows, SCORES, ev["bootstrap_samples"], ev["seed"], ev["ci"])[
            ["mean", "ci_low", "ci_high"]
        ].to_dict(orient="index")
        for arm, rows in pooled.items()
    }
    spread = {}
    for arm, runs in scored.items():
        if arm in ("base", "teacher"):  # one model, no training seeds
            continue
        per_seed = {m: [float(np.mean([r[m] for r in rows])) for rows in runs] for m in SCORES}
        spread[arm] = {
            m: {"per_seed": v, "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None}
            for m, v in per_seed.items()
        }
    paired = {}
    if "tft" in pooled and "direct" in pooled:
        paired = {
            m: paired_comparison(
                pooled["tft"], pooled["direct"], m, ev["bootstrap_samples"], ev["seed"], ev["ci"]
            )
            for m in SCORES
        }
    full = {arm: summarize(rows, params) for arm, rows in pooled.items()}
    return {
        "scenario": scenario,
        "profile": params["run"]["profile"],
        "student": params["student"]["model"],
        "judge": ev["judge"],
        "test_set": params["data"]["test_set"],
        "seeds": params["run"]["seeds"],
        "roles": params["roles"],
        "metrics": metrics,
        "paired": paired,
        "seed_spread": spread,
        "per_function": {arm: s["per_function"] for arm, s in full.items()},
        "confusion": {arm: s["confusion"] for arm, s in full.items()},
        "error_types": {arm: s["error_types"] for arm, s in full.items()},
    }


def results_frame(results: dict) -> pd.DataFrame:
    """Arms x metrics, 'mean [low, high]' strings, for display."""
    rows = {
        arm: {m: f"{v['mean']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" for m, v in ms.items()}
        for arm, ms in results["metrics"].items()
    }
    return pd.DataFrame(rows).T


def paired_frame(results: dict) -> pd.DataFrame:
    return pd.DataFrame(results["paired"]).T[
        ["diff", "ci_low", "ci_high", "p_not_better", "pairs", "conversations"]
    ]


def worst_turns(scored_rows: list[dict], k: int = 3, metric: str = JUDGE) -> str:
    """The k lowest-scoring pairs as readable conversations (last 8 messages, gold vs prediction)."""
    worst = sorted(scored_rows, key=lambda r: (r[metric], r["staged_tool_call"]))[:k]
    blocks = []
    for r in worst:
        msgs = json.loads(r["question"])
        blocks.append(
            "\n".join(
                [
                    f"--- {r.get('dialogue_id')} turn {r.get('turn')}  {metric}={r[metric]:.2f}  ({r.get('judge_reason', '')})",
                    conversation_text(msgs[-8:]),
                    f"   GOLD: {r['answer']}",
                    f"   PRED: {(r.get('prediction') or '')[:300]}",
                ]
            )
        )
    return "\n\n".join(blocks)


def stage_summary(paths: dict) -> dict:
    """What 03/04 recorded about the cleaning stages (for the report), when they ran."""
    out = {}
    for name in ("03_results.json", "04_results.json"):
        path = paths["scenario"] / name
        if path.exists():
            data = read_json(path)
            out.update({k: v for k, v in data.items() if k != "provenance"})
    return out


def record(paths: dict, results: dict, provenance: dict) -> Path:
    results = {**results, "stages": stage_summary(paths), "provenance": provenance}
    return write_json(paths["results"], results)


def load_scored(path) -> list[dict]:
    return read_jsonl(path)
