"""Write a source notebook (no outputs) from a list of ("md"|"code"|"params", text) cells.

Used by the lead's notebook specs in scripts/notebooks_*.py; keeps notebooks diff-friendly.
Usage: python scripts/nb.py  (rebuilds notebooks 01, 02, 03, 05, 06, 07; 04 is edited by hand)
"""

from __future__ import annotations

from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def write_notebook(name: str, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in cells:
        text = text.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    path = REPO / "notebooks" / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


COMMON_PARAMS = """
PROFILE = "cpu"                 # cpu | paper | smoke
RUN_DIR = "outputs/default"     # outputs/<run>; paths are relative to the repository root
OVERRIDES = []                  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]   # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (used by 01 and 07)
"""

NB01 = [
    (
        "md",
        """
# 01 · Data: SGD dialogues → tool-calling traces

Converts the Restaurants_1 dialogues of the Schema-Guided Dialogue dataset into OpenAI-format traces
(STUDY §2), splits them into the training pool (327 conversations) and the published test set
(34 conversations, expanded into one evaluation pair per assistant turn), and writes the tool schemas.
Every scenario of the study starts from these files.""",
    ),
    (
        "params",
        COMMON_PARAMS
        + "SGD_DIR = None                  # None: data.sgd_dir, $TFT_SGD_DIR, data/sgd, then download\n",
    ),
    (
        "code",
        """
from IPython.display import display

from tft_utils.data import build_dataset, load_traces
from tft_utils.figures import call_counts, conversation_text, plot_calls, plot_lengths
from tft_utils.io import read_json, read_jsonl, write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.sgd import resolve_sgd_dir""",
    ),
    ("md", "## 1. Parameters and paths"),
    (
        "code",
        """
params = load_params(PROFILE, None, OVERRIDES)
paths = run_paths(RUN_DIR)
params["data"]""",
    ),
    ("md", "## 2. Locate the SGD files"),
    (
        "code",
        'sgd_dir = resolve_sgd_dir(SGD_DIR or params["data"]["sgd_dir"], params["data"]["sgd_url"])\nsgd_dir',
    ),
    (
        "md",
        "## 3. Convert and split\n\n327 training traces, 34 test conversations → 360 pairs (`sgd`) or 359 (`published`).",
    ),
    (
        "code",
        """
d = params["data"]
stats = build_dataset(sgd_dir, paths["data"], d["service"], d["test_set"], d["published_test"], d["test_ids"], d["excluded_ids"])
stats""",
    ),
    ("md", "## 4. One trace, read as a conversation"),
    (
        "code",
        """
pool = load_traces(paths["data"] / "train_pool.jsonl")
test = load_traces(paths["data"] / "test.jsonl")
print(conversation_text(test[0]))""",
    ),
    ("md", "## 5. Conversation lengths: training pool vs test set"),
    ("code", 'fig = plot_lengths({"train pool": pool, "test": test})'),
    ("md", "## 6. Which tools the assistant calls"),
    (
        "code",
        'display(call_counts({"train pool": pool, "test": test}))\nfig = plot_calls({"train pool": pool, "test": test})',
    ),
    ("md", "## 7. Evaluation pairs and tool schemas"),
    (
        "code",
        """
pairs = read_jsonl(paths["data"] / "test_pairs.jsonl")
tools = read_json(paths["data"] / "tools.json")
print(len(pairs), "pairs;", [t["function"]["name"] for t in tools])
pairs[0]["answer"]""",
    ),
    ("md", "## 8. Record the results"),
    (
        "code",
        'write_json(paths["data"] / "01_results.json", {"stats": stats, "provenance": provenance(params)})',
    ),
]

NB02 = [
    (
        "md",
        """
# 02 · Scenarios: the noise each pipeline faces

Applies one scenario of STUDY §3 to the training pool: S1 clean, S2 noisy labels, S3 schema drift,
S4 five traces, S5 traffic from another domain. Every change is seeded and recorded per turn in
`corruptions.jsonl`; this notebook counts and shows them so the reader knows exactly what the cleaning
stages (03) were up against. The cleaning stages never read that file.""",
    ),
    ("params", COMMON_PARAMS + 'SCENARIO = "s1"                 # s1 | s2 | s3 | s4 | s5\n'),
    (
        "code",
        """
from IPython.display import display

from tft_utils.data import load_traces
from tft_utils.figures import conversation_text, corruption_examples, corruption_table, plot_calls, plot_corruptions
from tft_utils.io import read_jsonl, write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.scenarios import write_scenario
from tft_utils.sgd import resolve_sgd_dir""",
    ),
    ("md", "## 1. Parameters and paths"),
    (
        "code",
        """
params = load_params(PROFILE, SCENARIO, OVERRIDES)
paths = run_paths(RUN_DIR, SCENARIO)
params["scenario"]""",
    ),
    ("md", "## 2. Build the scenario"),
    (
        "code",
        """
sgd_dir = resolve_sgd_dir(params["data"]["sgd_dir"], params["data"]["sgd_url"])
stats = write_scenario(SCENARIO, paths["data"], sgd_dir, paths["scenario"], params, params["run"]["seed"])
{k: v for k, v in stats.items() if k != "function_name_counts"}""",
    ),
    ("md", "## 3. What was corrupted, by kind"),
    (
        "code",
        """
traces = load_traces(paths["traces"])
rows = read_jsonl(paths["corruptions"])
table = corruption_table(rows, stats["assistant_calls"], stats["traces"])
display(table)
fig = plot_corruptions(table, SCENARIO)""",
    ),
    ("md", "## 4. Examples: before → after"),
    ("code", "corruption_examples(rows)"),
    ("md", "## 5. Function names in the training traces"),
    ("code", "fig = plot_calls({SCENARIO: traces})"),
    ("md", "## 6. One training trace as the pipelines see it"),
    (
        "code",
        'print(conversation_text(next((t for t in traces if any(r["dialogue_id"] == t["dialogue_id"] for r in rows)), traces[0])))',
    ),
    ("md", "## 7. Record the results"),
    (
        "code",
        'write_json(paths["scenario"] / "02_results.json", {"stats": stats, "provenance": provenance(params)})',
    ),
]

NB03 = [
    (
        "md",
        """
# 03 · Filter, align and relabel (TFT steps 1-2)

TFT's cleaning of the scenario's traces (STUDY §4.1-4.2): every trace is scored for relevance and
coherence (1-5, with a reason) and kept at or above the thresholds; foreign tool and parameter names are
mapped onto the target schema; a committee of independent relabelers proposes every assistant call,
votes stage by stage (name → keys → values), keeps what it agrees on and masks the rest out of training.
The stages read only `traces.jsonl`. Because our corruptions are recorded per turn, the last sections
score each stage against the known noise: per kind of corruption, how much the filter dropped and the
committee restored (the scenario's `corruptions.jsonl` is read here, for scoring only).""",
    ),
    ("params", COMMON_PARAMS + 'SCENARIO = "s2"                 # s1 | s2 | s3 | s4 | s5\n'),
    (
        "code",
        """
from IPython.display import display

from tft_utils.backends import LEDGER
from tft_utils.clean import run_clean
from tft_utils.clean_report import (confusion, kind_record, mapping_table, per_kind, plot_confusion, plot_per_kind,
                                    plot_scores, score_distribution, targets, turn_outcomes)
from tft_utils.data import load_traces
from tft_utils.figures import conversation_text
from tft_utils.io import read_jsonl, write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths""",
    ),
    (
        "md",
        "## 1. Parameters and paths\n\nThe filter thresholds, the aligner's evidence weights and the committee.",
    ),
    (
        "code",
        """
params = load_params(PROFILE, SCENARIO, OVERRIDES)
paths = run_paths(RUN_DIR, SCENARIO)
out = paths["clean"]
{k: params[k] for k in ("filter", "align", "relabel")} | {"roles": params["roles"]}""",
    ),
    (
        "md",
        "## 2. Clean: filter → align → committee relabel\n\nA finished run with the same traces and parameters is not redone.",
    ),
    (
        "code",
        """
stats = run_clean(paths["traces"], out, params)
{k: stats[k] for k in ("traces_in", "kept", "dropped", "turns", "decisions", "masked_share", "renamed_traces")}""",
    ),
    (
        "md",
        "## 3. Filter scores: kept and dropped traces\n\nGroups: the trace's service (S3, S5) or, in S2, whether the scenario corrupted it.",
    ),
    (
        "code",
        """
traces = load_traces(paths["traces"])
corruptions = read_jsonl(paths["corruptions"])
scores = read_jsonl(out / "scores.jsonl")
dist = score_distribution(scores, traces, corruptions)
display(dist.groupby("group")[["relevance", "coherence", "kept"]].mean().round(3))
fig = plot_scores(dist)""",
    ),
    ("md", "Why traces were dropped (the first reasons):"),
    (
        "code",
        'display([(d["dialogue_id"], d["drop_reason"]) for d in read_jsonl(out / "dropped.jsonl")[:8]])',
    ),
    ("md", "## 4. Alignment: foreign names mapped onto the target schema, with their evidence"),
    ("code", 'mapping_table(read_jsonl(out / "align.jsonl"))'),
    ("md", "## 5. The committee: decisions and agreement between members"),
    ("code", '{k: stats[k] for k in ("members", "decisions", "mean_stage_agreement", "member_agreement")}'),
    ("md", "## 6. Relabel changes: logged function → final function (or masked)"),
    (
        "code",
        """
turns = read_jsonl(out / "turns.jsonl")
pool = load_traces(paths["data"] / "train_pool.jsonl")
df = turn_outcomes(traces, corruptions, pool, scores, turns)
conf = confusion(df)
display(conf)
fig = plot_confusion(conf)""",
    ),
    (
        "md",
        "## 7. Scored against the known noise\n\nPer kind of turn (`clean` = not corrupted): dropped with its trace by the filter, masked by the committee, restored (final call = the clean call), or left wrong.",
    ),
    (
        "code",
        """
kinds = per_kind(df)
display(kinds)
fig = plot_per_kind(kinds, SCENARIO)
targets(df)""",
    ),
    ("md", "## 8. One relabelled turn, read in its conversation"),
    (
        "code",
        """
changed = next((r for r in turns if r["decision"] == "relabelled"), None) or next((r for r in turns if r["masked"]), None)
if changed:
    kept = {t["dialogue_id"]: t for t in read_jsonl(out / "kept.jsonl")}
    print({k: changed[k] for k in ("dialogue_id", "turn", "original", "proposals", "final", "masked")})
    print(conversation_text(kept[changed["dialogue_id"]], mark=changed["turn"]))""",
    ),
    (
        "md",
        "## 9. The call ledger\n\nCommittee, filter and teacher calls (empty with the `rules` backends: no LLM was called).",
    ),
    ("code", "LEDGER.table()"),
    ("md", "## 10. Record the results"),
    (
        "code",
        """
write_json(paths["scenario"] / "03_results.json", {"clean": {k: v for k, v in stats.items() if k not in ("provenance", "ledger")},
           "targets": targets(df), "per_corruption_kind": kind_record(kinds), "ledger": LEDGER.rows(),
           "provenance": provenance(params)})""",
    ),
]

NB05 = [
    (
        "md",
        """
# 05 · Fine-tune the Direct and the TFT students

Trains two students from the same base model with the same budget (STUDY §4-5): **Direct** on the
scenario's raw traces, **TFT** on the validated synthetic conversations of notebook 04 plus the cleaned
seeds of notebook 03 (turns the committee masked are context, not targets). LoRA through peft, merged
into the base afterwards; one sequence per conversation with the loss on every assistant call and on
nothing else; one model per training seed (`run.seeds`). Records sizes, time, tokens/s and final loss.""",
    ),
    ("params", COMMON_PARAMS + 'SCENARIO = "s2"                 # s1 | s2 | s3 | s4 | s5\n'),
    (
        "code",
        """
from IPython.display import display

from tft_utils.finetune import arm_sources, plot_curves, size_table, train_arms, training_sets
from tft_utils.io import write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.student import base_model_dir, pick_device""",
    ),
    ("md", "## 1. Parameters: the student, the budget, the seeds"),
    (
        "code",
        """
params = load_params(PROFILE, SCENARIO, OVERRIDES)
paths = run_paths(RUN_DIR, SCENARIO)
base = base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
device = pick_device(params["student"]["device"], params["student"]["dtype"])
{"base": str(base), "device": str(device), "seeds": params["run"]["seeds"], "train": params["train"]}""",
    ),
    ("md", "## 2. What each arm trains on"),
    (
        "code",
        """
sources = arm_sources(paths, params, PIPELINES)
sets = training_sets(sources)
sizes = size_table(sets)
sizes""",
    ),
    ("md", "## 3. Train (a finished model is kept; a killed run resumes from its checkpoint)"),
    (
        "code",
        """
stats = train_arms(sets, paths, params)
stats[["arm", "seed", "conversations", "sequences", "steps", "tokens", "supervised_tokens", "seconds", "tokens_per_s",
       "final_loss", "device", "dtype"]]""",
    ),
    ("md", "## 4. Training curves"),
    ("code", "fig = plot_curves(paths, stats)"),
    ("md", "## 5. Record the results"),
    (
        "code",
        """
write_json(paths["scenario"] / "05_results.json", {"sizes": sizes.reset_index().to_dict(orient="records"),
           "sources": {a: [str(f) for f in fs] for a, fs in sources.items()},
           "training": stats.to_dict(orient="records"), "provenance": provenance(params)})""",
    ),
]

NB06 = [
    (
        "md",
        """
# 06 · Evaluate: base, Direct and TFT students on the test pairs

Predicts every evaluation pair (one per assistant turn of the 34 test conversations) with the untuned
base model, the Direct student and the TFT student (each training seed), scores them with every metric
of STUDY §6 and the configured judge, and records the scenario's results for the report. Intervals are
95% bootstraps over test conversations (360 pairs come from only 34 conversations) and, when an arm has
several training seeds, over its seeds too (two-level bootstrap); with one seed per arm they cover test
sampling only. TFT − Direct is a paired comparison on the same pairs, with a verdict and the smallest
difference this sample detects.""",
    ),
    (
        "params",
        COMMON_PARAMS
        + 'SCENARIO = "s1"                 # s1 | s2 | s3 | s4 | s5\nWORST_K = 3                     # worst turns shown per trained arm\n',
    ),
    (
        "code",
        """
import pandas as pd
from IPython.display import display

from tft_utils.compare import (paired_frame, plan_arms, predict_arms, record, results_frame, scenario_results,
                               score_arms, worst_turns)
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.score import score_baselines""",
    ),
    ("md", "## 1. The models to evaluate"),
    (
        "code",
        """
params = load_params(PROFILE, SCENARIO, OVERRIDES)
paths = run_paths(RUN_DIR, SCENARIO)
pairs_path = paths["data"] / "test_pairs.jsonl"
arms = plan_arms(paths, params, PIPELINES)
pd.DataFrame(arms)""",
    ),
    ("md", "## 2. Predict (greedy; skipped where predictions are newer than the model)"),
    ("code", "predict_arms(arms, pairs_path, params)"),
    ("md", "## 3. Score every pair"),
    (
        "code",
        """
scored = score_arms(arms, params)
results = scenario_results(scored, params, SCENARIO)
print(results["interval"]["text"])
results_frame(results)""",
    ),
    (
        "md",
        """
## 4. TFT − Direct on the same pairs (paired bootstrap)

verdict: TFT ahead / behind when the paired interval lies above / below 0, else no difference detected.
min_detectable_diff: the smallest difference this sample detects with 80% power, from the interval's
half-width h: h × (z₀.₉₇₅ + z₀.₈) / z₀.₉₇₅ ≈ 1.43 h (`tft_utils.stats.min_detectable_difference`).""",
    ),
    ("code", 'paired_frame(results) if results["paired"] else "only one trained arm in this run"'),
    ("md", "## 5. Spread over training seeds (the noise floor)"),
    (
        "code",
        'pd.DataFrame({arm: {m: v["per_seed"] for m, v in s.items()} for arm, s in results["seed_spread"].items()})',
    ),
    ("md", "## 6. Which function each model called (rows: gold, columns: predicted)"),
    (
        "code",
        'pd.concat({arm: pd.DataFrame(c).T.fillna(0).astype(int) for arm, c in results["confusion"].items()})',
    ),
    ("md", "## 7. Scores per gold function"),
    ("code", 'pd.concat({arm: pd.DataFrame(f).T for arm, f in results["per_function"].items()}).round(3)'),
    ("md", "## 8. Reference baselines: the floor any student must clear"),
    ("code", "score_baselines(pairs_path, params).round(3)"),
    ("md", "## 9. The worst turns, read as conversations"),
    (
        "code",
        'for arm in [a for a in ("direct", "tft") if a in scored]:\n    print(f"===== {arm} =====")\n    print(worst_turns(scored[arm][0], WORST_K))',
    ),
    ("md", "## 10. Record the results"),
    ("code", "record(paths, results, provenance(params))"),
]

NB07 = [
    (
        "md",
        """
# 07 · Report: TFT vs Direct across the five scenarios

Builds the study's table from what each scenario recorded in notebook 06 (`results.json`) — nothing is
recomputed here — and sets it beside the published numbers (distil labs, Qwen3-1.7B student, GLM-5
teacher, gpt-oss-120b judge). Every number carries its interval: a 95% bootstrap over the 34 test
conversations and, when an arm was trained with several seeds, over its seeds too (with one seed per arm
the intervals cover test sampling only); a paired interval for TFT − Direct with its verdict and the
smallest difference the sample detects; and the spread over training seeds when several were run.""",
    ),
    (
        "params",
        COMMON_PARAMS
        + 'METRIC = "llm_as_a_judge"       # llm_as_a_judge | staged_tool_call | binary_tool_call | tool_call_equivalence | rouge_l\n',
    ),
    (
        "code",
        """
from IPython.display import Markdown, display

from tft_utils.io import write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.report import (interval_text, load_results, per_function_table, plot_arms, plot_deltas,
                              plot_per_function, plot_stage_effects, save_figure, setup_text, stage_effects,
                              study_table, table_markdown, write_report)
from tft_utils.run import run_paths""",
    ),
    ("md", "## 1. What produced these results"),
    (
        "code",
        """
params = load_params(PROFILE, None, OVERRIDES)
paths = run_paths(RUN_DIR)
results = load_results(paths["run"], SCENARIOS)
display(Markdown(setup_text(results)))""",
    ),
    (
        "md",
        "## 2. The study's table\n\nOurs beside the published numbers; Δ = TFT − Direct on the same test pairs, "
        "with its verdict, the smallest Δ this sample detects, and what the intervals cover.",
    ),
    (
        "code",
        """
table = study_table(results, METRIC)
files = write_report(paths["report"], table, results, METRIC)
display(Markdown(table_markdown(table) + "\\n\\n" + interval_text(results, METRIC)))""",
    ),
    ("md", "## 3. Scores per scenario, with intervals"),
    ("code", 'fig = plot_arms(results, METRIC)\nsave_figure(fig, paths["report"] / "scores.png")'),
    ("md", "## 4. TFT − Direct: ours vs published"),
    ("code", 'fig = plot_deltas(table)\nsave_figure(fig, paths["report"] / "delta.png")'),
    ("md", "## 5. Per function"),
    (
        "code",
        'display(per_function_table(results, METRIC).pivot_table(index=["scenario", "function"], columns="arm", values=METRIC).round(3))\nfig = plot_per_function(results, METRIC)\nsave_figure(fig, paths["report"] / "per_function.png")',
    ),
    ("md", "## 6. What each TFT stage removed or fixed, per kind of noise"),
    (
        "code",
        'effects = stage_effects(results)\ndisplay(effects)\nfig = plot_stage_effects(effects)\nsave_figure(fig, paths["report"] / "stage_effects.png")',
    ),
    ("md", "## 7. Record the results"),
    (
        "code",
        'write_json(paths["report"] / "report.json", {"metric": METRIC, "table": table.reset_index().to_dict(orient="records"), "files": files, "provenance": provenance(params)})',
    ),
]

if __name__ == "__main__":
    for name, cells in (
        ("01_data", NB01),
        ("02_scenarios", NB02),
        ("03_filter_relabel", NB03),
        ("05_finetune", NB05),
        ("06_evaluate", NB06),
        ("07_report", NB07),
    ):
        print(write_notebook(name, cells))
