"""Notebook 06: predict the test pairs with the untuned base, the Direct and the TFT students
(every training seed), score them, and record the scenario's results for the report (07).

Several seeds per arm: an arm's score is the mean over its seeds and the test pairs, and every 95%
interval (each arm's, and the paired TFT − Direct) is a two-level bootstrap that resamples the test
conversations and, independently per arm, the arm's training seeds (`tft_utils.evaluate.stats.bootstrap_seeds`,
`paired_seeds`); with one seed per arm it covers test sampling only, and says so (`resampled`). Each
seed's mean and their sd are recorded beside, and TFT − Direct gets a verdict and the smallest difference
this sample could detect.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tft_utils.core import fresh
from tft_utils.core.io import DataError, read_json, read_jsonl
from tft_utils.core.locks import exclusive
from tft_utils.core.params import seed_of
from tft_utils.core.paths import carried_without_weights, model_dir, shown
from tft_utils.data.figures import conversation_text
from tft_utils.domain.tools import RESPOND, SERVICE_TOOLS
from tft_utils.evaluate.results import ArmMetric, Interval, Paired, ScenarioResults
from tft_utils.evaluate.score import JUDGE, SCORES, error_types, score_file, service_calls, summarize
from tft_utils.evaluate.stats import ONE_SEED, SEEDS_TOO, bootstrap_seeds, confusion_matrix, paired_seeds

ARMS = ("base", "direct", "tft", "teacher")


def base_predictions_path(paths: dict, params: dict) -> Path:
    # The untuned base is the same model for every scenario: predict it once per run and test set.
    kind = "" if params["student"]["tool_base"] == "none" else f"-toolbase-{params['student']['tool_base']}"
    return paths["run"] / "base" / f"predictions-{params['data']['test_set']}{kind}.jsonl"


def plan_arms(paths: dict, params: dict, pipelines) -> list[dict]:
    """(arm, seed, model folder, predictions path) for every model this scenario evaluates."""
    from tft_utils.train.tool_base import student_base

    out = [
        {  # the model both students start from (the tool base when student.tool_base is sgd)
            "arm": "base",
            "seed": None,
            "model": str(student_base(params)),
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
    """Predict every arm whose predictions are missing or stale (`tft_utils.core.fresh`; resumable); with
    `run.jobs` > 1 that many models side by side (`core.workers`)."""
    from tft_utils.core.workers import side_by_side

    # tools.json of the same data folder: the endpoint teacher and the untuned base (which has no
    # rendering recorded by training) are told the tools from it
    tools_path = Path(pairs_path).parent / "tools.json"
    models = []
    for a in arms:
        if a["arm"] == "teacher":
            from tft_utils.evaluate.predict_endpoint import predict_endpoint
            from tft_utils.llm.backends import make_client
            from tft_utils.train.render import load_tools

            log(f"teacher: asking endpoint {a['model']} (cached calls are not sent again)")
            tools = load_tools(tools_path)
            log(predict_endpoint(make_client(params, "teacher"), pairs_path, a["predictions"], tools))
            continue
        if a["arm"] != "base" and not Path(a["model"]).exists():
            raise FileNotFoundError(f"{model_name(a)}: no model at {a['model']} (run notebook 05)")
        models.append(a)
    jobs = params["run"]["jobs"]
    if jobs > 1:  # no worker started for predictions that are current (a rerun of 06)
        models = [a for a in models if not _current(a, pairs_path, tools_path, params, log)]
    tasks = [(a, pairs_path, tools_path, params) for a in models]
    for _ in side_by_side(predict_model, tasks, jobs, log):
        pass


def _current(a: dict, pairs_path: Path, tools_path: Path, params: dict, log) -> bool:
    """True (and said) when the arm's predictions are up to date; a stale one is said where it is predicted."""
    fp = predictions_fingerprint(a["model"], pairs_path, tools_path, params)
    said: list[str] = []
    if fresh.reuse(a["predictions"], fp, fresh.forced(params), said.append, f"{model_name(a)} predictions"):
        log(said[0])
        return True
    return False


def arms_frame(arms: list[dict]) -> pd.DataFrame:
    """`plan_arms` for a reader: one row per model, its paths shown from the checkout or ~ (`paths.shown`)."""
    return pd.DataFrame(
        [{k: shown(v) if k in ("model", "predictions") else v for k, v in a.items()} for a in arms]
    )


def model_name(a: dict) -> str:
    """ "direct seed 0", or the arm alone for a model without a training seed (the base, a teacher)."""
    return a["arm"] if a.get("seed") is None else f"{a['arm']} seed {a['seed']}"


def predict_model(a: dict, pairs_path: Path, tools_path: Path, params: dict, log=print) -> None:
    """One arm's model (`plan_arms`): its predictions unless current; in notebook 06's kernel or in a worker
    of `core.workers`."""
    pred, model = Path(a["predictions"]), Path(a["model"])
    # the base's predictions are the run's, shared by its scenarios' 06 (side by side on a cluster):
    # one predicts, the others wait and reuse them
    with exclusive(pred, "base predictions", log) if a["arm"] == "base" else nullcontext():
        predict_arm(a, pred, model, pairs_path, tools_path, params, log)


def predict_arm(
    a: dict, pred: Path, model: Path, pairs_path: Path, tools_path: Path, params: dict, log
) -> None:
    """One model's predictions, unless current; resumes its own partial file."""
    from tft_utils.evaluate.predict import predict_file

    fp = predictions_fingerprint(a["model"], pairs_path, tools_path, params)
    if fresh.reuse(pred, fp, fresh.forced(params), log, f"{model_name(a)} predictions"):
        return
    if carried_without_weights(model):
        raise DataError(
            f"{model_name(a)}: {model} was carried without its weights (tft carry) and its "
            f"predictions are missing or stale, so it must be trained again: delete {model} and rerun"
        )
    partial = Path(str(pred) + ".partial")
    fresh.begin(pred, fp, leftovers=[partial, pred])  # resume only this model's own partial file
    log(f"{model_name(a)}: predicting {pairs_path.name} with {shown(model)}")
    done = predict_file(model, pairs_path, pred, params, tools_path=tools_path)
    # the record of what it took, beside the fingerprint's digest (not part of it)
    fresh.stamp(pred, {**fp, "predicted": prediction_record(done, params)})


def prediction_record(done: dict, params: dict) -> dict:
    """What predicting took (report/cost.py reads it): the seconds and pairs of this call (a prediction
    resumed from its partial file: its last part), its speed, dtype and machine, as training records its
    own in train_stats.json."""
    from tft_utils.core.provenance import machine_info
    from tft_utils.train.student import pick_device

    _, dtype = pick_device(params["student"]["device"], params["student"]["dtype"])  # what predict loaded
    return {
        "jobs": params["run"]["jobs"],  # models predicted side by side (run.jobs): its seconds are its own
        "pairs": done["pairs"],
        "predicted": done["predicted"],
        "seconds": done["seconds"],
        "pairs_per_s": done["pairs_per_s"],
        "dtype": str(dtype).replace("torch.", ""),
        "machine": machine_info(),
    }


# Where the code that shapes a model's predictions starts (see train.arms.STUDENT_ROOTS): predict.py and what it
# imports, the chat renderer among them, not the training loop (a student's own fingerprint follows that).
PREDICT_ROOTS = ("evaluate/predict.py",)


def predictions_fingerprint(model, pairs_path, tools_path, params: dict) -> dict:
    """Predictions follow their model's fingerprint (or the base's), the pairs, the decoding params
    and the code of `PREDICT_ROOTS` (`fresh.code_of`)."""
    student = {k: params["student"][k] for k in ("device", "dtype")}
    return fresh.make(
        "predictions",
        {"predict": params["predict"], "student": student},
        {"model": model, "pairs": pairs_path, "tools": tools_path},
        code=fresh.code_of(*PREDICT_ROOTS),
    )


def score_arms(arms: list[dict], params: dict) -> dict:
    """{arm: [scored rows of each seed]} with the rubric (or configured) judge."""
    scored: dict[str, list[list[dict]]] = {}
    for a in arms:
        out = Path(a["predictions"]).with_suffix(".scored.jsonl")
        # the base's, like its predictions, one scenario at a time: the next finds an LLM judge's replies cached
        with exclusive(out, "base scores") if a["arm"] == "base" else nullcontext():
            rows, _ = score_file(a["predictions"], params["evaluate"]["judge"], out, params, progress=False)
        scored.setdefault(a["arm"], []).append(rows)
    return scored


def seed_mean_rows(runs: list[list[dict]]) -> list[dict]:
    """One row per pair with every score averaged over the seeds (pairs matched by position): what the
    per-function scores, confusion matrix and failure kinds of several seeds are computed on."""
    if len(runs) == 1:
        return runs[0]
    out = []
    for rows in zip(*runs, strict=True):
        out.append({**rows[0], **{m: float(np.mean([r[m] for r in rows])) for m in SCORES}})
    return out


def every_row(runs: list[list[dict]]) -> list[dict]:
    """Every seed's scored rows in one list (counts over it are summed over the seeds)."""
    return [r for rows in runs for r in rows]


def arm_seeds(arm: str, runs: list, params: dict) -> list | None:
    """The training seeds of an arm's runs (`score_arms` keeps plan_arms' order: `run.seeds`);
    None for the untrained base and the endpoint teacher."""
    if arm in ("base", "teacher"):
        return None
    seeds = list(params["run"]["seeds"])
    return seeds if len(seeds) == len(runs) else list(range(len(runs)))


def arm_metric(runs: list[list[dict]], metric: str, seeds: list | None, ev: dict) -> ArmMetric:
    """One arm, one metric (results.json `metrics.<arm>.<metric>`): the two-level bootstrap over test
    conversations and the arm's seeds."""
    b = bootstrap_seeds(runs, metric, ev["bootstrap_samples"], ev["seed"], ev["ci"])
    return ArmMetric(
        mean=b["mean"],
        ci_low=b["ci_low"],
        ci_high=b["ci_high"],
        seeds=seeds,
        per_seed=b["per_seed"],
        seed_sd=b["seed_sd"],
        pairs=b["n"],
        conversations=b["groups"],
        resampled=b["resampled"],
        t_ci_low=b["t_ci_low"],
        t_ci_high=b["t_ci_high"],
        seed_df=b["seed_df"],
    )


def paired_metric(
    tft: list[list[dict]], direct: list[list[dict]], metric: str, seeds: dict, ev: dict
) -> Paired:
    """TFT − Direct on the same pairs for one metric, as recorded in results.json `paired`: diff,
    ci_low, ci_high (paired two-level bootstrap), p_not_better, verdict ("TFT ahead" | "TFT behind" |
    "no difference detected"), min_detectable_diff (80% power, `stats.min_detectable_difference`),
    seeds ({tft, direct}), per_seed (TFT seed i − Direct seed i) and seed_sd, resampled."""
    d = paired_seeds(tft, direct, metric, ev["bootstrap_samples"], ev["seed"], ev["ci"], name_a="TFT")
    return Paired(**d, seeds={"tft": seeds.get("tft"), "direct": seeds.get("direct")})


def interval_note(seeds_per_arm: dict, ev: dict) -> Interval:
    """What the scenario's intervals cover, for the report: `over` and a plain sentence."""
    trained = {arm: n for arm, n in seeds_per_arm.items() if arm not in ("base", "teacher")}
    several = any(n > 1 for n in trained.values())
    if several:
        text = (
            "95% intervals resample the test conversations and each arm's training seeds (two-level "
            f"bootstrap; seeds per arm: {', '.join(f'{a} {n}' for a, n in trained.items())})."
        )
    else:
        text = (
            "95% intervals cover test sampling only: each arm was trained with one seed, so they leave out "
            "how much the training seed moves a score (run several, e.g. `tft run --seeds 0,1,2`)."
        )
    return Interval(
        ci=ev["ci"],
        bootstrap_samples=ev["bootstrap_samples"],
        over=SEEDS_TOO if several else ONE_SEED,
        seeds_per_arm=seeds_per_arm,
        text=text,
    )


def scenario_results(scored: dict, params: dict, scenario: str) -> ScenarioResults:
    """The scenario's results (results.json, `tft_utils.evaluate.results`) from `score_arms`' {arm: [scored
    rows of each seed]}."""
    ev = {**params["evaluate"], "seed": seed_of(params, "evaluate")}
    seeds = {arm: arm_seeds(arm, runs, params) for arm, runs in scored.items()}
    metrics = {arm: {m: arm_metric(runs, m, seeds[arm], ev) for m in SCORES} for arm, runs in scored.items()}
    paired = {}
    if "tft" in scored and "direct" in scored:
        paired = {m: paired_metric(scored["tft"], scored["direct"], m, seeds, ev) for m in SCORES}
    pooled = {arm: seed_mean_rows(runs) for arm, runs in scored.items()}
    full = {arm: summarize(rows, params) for arm, rows in pooled.items()}
    return ScenarioResults(
        scenario=scenario,
        profile=params["run"]["profile"],
        student=params["student"]["model"],
        judge=ev["judge"],
        test_set=params["data"]["test_set"],
        seeds=list(params["run"]["seeds"]),
        roles=params["roles"],
        interval=interval_note({arm: len(runs) for arm, runs in scored.items()}, ev),
        metrics=metrics,
        paired=paired,
        per_function={arm: s["per_function"] for arm, s in full.items()},
        # counted over every seed's predictions (the seed-mean rows keep the first seed's prediction)
        confusion={
            arm: confusion_matrix(every_row(runs)).to_dict(orient="index") for arm, runs in scored.items()
        },
        error_types={arm: error_types(every_row(runs)) for arm, runs in scored.items()},
        service_calls={arm: [service_calls(rows) for rows in runs] for arm, runs in scored.items()},
    )


def seed_table(results: ScenarioResults) -> pd.DataFrame:
    """Each trained arm's per-seed means (rows: arm x metric, columns: "seed N"), rounded to 3 places."""
    return (
        pd.DataFrame(
            {
                (arm, m): {
                    f"seed {s}": x
                    for s, x in zip(v.seeds or range(len(v.per_seed)), v.per_seed, strict=False)
                }
                for arm, ms in results.metrics.items()
                if arm in ("tft", "direct")
                for m, v in ms.items()
            }
        )
        .T.astype(float)
        .round(3)
    )


def service_calls_frame(results: ScenarioResults) -> pd.DataFrame:
    """The service-call pairs judged good / right function / exact, one row per arm and training seed
    ("-" for the untrained base or a teacher)."""
    rows = {}
    for arm, runs in results.service_calls.items():
        seeds = results.metrics[arm][JUDGE].seeds if arm in results.metrics else None
        for i, counts in enumerate(runs):
            rows[(arm, seeds[i] if seeds and len(seeds) == len(runs) else "-")] = counts
    return pd.DataFrame(rows).T.rename_axis(["arm", "seed"])


def confusion_frame(results: ScenarioResults) -> pd.DataFrame:
    """Gold function (rows) x predicted function (columns) counts, one block per arm, summed over its seeds;
    the columns in one order: the service functions, the reply, then unparseable outputs."""
    frame = pd.concat({arm: pd.DataFrame(c).T for arm, c in results.confusion.items()}).fillna(0).astype(int)
    first = [c for c in (*sorted(SERVICE_TOOLS), RESPOND) if c in frame.columns]
    return frame[first + sorted(c for c in frame.columns if c not in first)]


def per_function_frame(results: ScenarioResults) -> pd.DataFrame:
    """Each metric per gold function, one block per arm (pooled over seeds)."""
    return pd.concat({arm: pd.DataFrame(f).T for arm, f in results.per_function.items()}).round(3)


def results_frame(results: ScenarioResults) -> pd.DataFrame:
    """Arms x metrics, 'mean [low, high]' strings, for display (seeds per arm in the last column)."""
    rows = {
        arm: {m: f"{v.mean:.3f} [{v.ci_low:.3f}, {v.ci_high:.3f}]" for m, v in ms.items()}
        for arm, ms in results.metrics.items()
    }
    frame = pd.DataFrame(rows).T
    frame["seeds"] = [len(next(iter(ms.values())).per_seed or [0]) for ms in results.metrics.values()]
    return frame


def paired_frame(results: ScenarioResults) -> pd.DataFrame:
    cols = [
        "diff",
        "ci_low",
        "ci_high",
        "verdict",
        "min_detectable_diff",
        "t_ci_low",
        "t_ci_high",
        "t_verdict",
        "seed_df",
        "p_not_better",
        "pairs",
        "conversations",
    ]
    frame = pd.DataFrame({m: asdict(p) for m, p in results.paired.items()}).T
    frame = frame[[c for c in cols if c in frame]]
    numbers = [c for c in frame if c not in ("verdict", "t_verdict", "pairs", "conversations")]
    frame[numbers] = frame[numbers].apply(pd.to_numeric).round(3)
    # one test set for every metric: its size goes in the header, not in two constant columns
    n = frame[["pairs", "conversations"]].iloc[0] if {"pairs", "conversations"} <= set(frame) else None
    frame = frame.drop(columns=["pairs", "conversations"], errors="ignore")
    if n is not None:
        frame.columns.name = (
            f"TFT - Direct on {int(n['pairs'])} pairs of {int(n['conversations'])} conversations"
        )
    return frame


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


def worst_turns_by_arm(scored: dict, k: int = 3) -> str:
    """`worst_turns` of each trained arm's first seed, under a header naming the arm and the seed."""
    return "\n\n".join(
        f"===== {arm} (its first training seed) =====\n{worst_turns(scored[arm][0], k)}"
        for arm in ("direct", "tft")
        if arm in scored
    )


def stage_summary(paths: dict) -> dict:
    """What 03/04 recorded about the cleaning stages (for the report), when they ran."""
    out = {}
    for name in ("03_results.json", "04_results.json"):
        path = paths["scenario"] / name
        if path.exists():
            data = read_json(path)
            out.update({k: v for k, v in data.items() if k != "provenance"})
    return out


def record(paths: dict, results: ScenarioResults, provenance: dict) -> Path:
    """Write results.json through its schema, with what 03/04 recorded and the run's provenance."""
    return replace(results, stages=stage_summary(paths), provenance=provenance).write(paths["results"])


def load_scored(path) -> list[dict]:
    return read_jsonl(path)
