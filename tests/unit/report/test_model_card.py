"""Model cards (tft_utils/report/model_card.py): one README.md in the Hugging Face format per trained student,
every figure taken from the run's recorded results and the student's train_stats.json."""

from __future__ import annotations

import json

from tests.unit.evaluate.test_verdict import params_with, scored_run
from tft_utils.core.io import write_json
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.evaluate.compare import record, scenario_results
from tft_utils.report.model_card import write_cards


def test_every_student_gets_a_card_with_its_own_scores_and_the_published_ones(tmp_path):
    from huggingface_hub import ModelCard

    params = params_with([0, 1])
    paths = run_paths(tmp_path / "run", "s2")
    scored = {
        "direct": [scored_run(0.5, 1), scored_run(0.3, 3)],
        "tft": [scored_run(0.8, 2), scored_run(0.7, 4)],
    }
    for arm in scored:
        for seed in (0, 1):
            folder = paths["models"] / f"{arm}-seed{seed}"
            folder.mkdir(parents=True)
            write_json(folder / "train_stats.json", {"steps": 7 + seed, "tokens": 1234, "conversations": 42})
    results = scenario_results(scored, params, "s2")
    record(paths, results, provenance(params))

    cards = write_cards(paths)
    assert sorted(c.parent.name for c in cards) == ["direct-seed0", "direct-seed1", "tft-seed0", "tft-seed1"]
    card = ModelCard.load(paths["models"] / "tft-seed1" / "README.md")
    meta = card.data.to_dict()
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-generation"
    assert meta["datasets"] == ["google-research-datasets/dstc8-schema-guided-dialogue"]
    assert "tft-tft" in meta["tags"] and meta["license"] == "apache-2.0"
    [index] = meta["model-index"]
    judged = {m["type"]: m["value"] for r in index["results"] for m in r["metrics"]}
    per_seed = results.metrics["tft"]["llm_as_a_judge"].per_seed
    assert judged["llm_as_a_judge"] == round(per_seed[1], 4) != round(per_seed[0], 4)  # seed 1's own
    body = card.text
    assert "S2 Noisy Labels" in body and "training seed 1" in body
    assert "Published (S2 Noisy Labels, Qwen3-1.7B student, LLM judge): TFT 0.844" in body
    assert "8 steps" in body and provenance(params)["git_commit"] in body
    d = results.paired["llm_as_a_judge"]
    assert f"{d.diff:+.3f}" in body and d.verdict in body
    json.dumps(meta)
