# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Report: TFT vs Direct across the five scenarios
#
# Builds the study's table from what each scenario recorded in notebook 06 (`results.json`) — nothing is
# recomputed here — and sets it beside the published numbers (distil labs, Qwen3-1.7B student, GLM-5
# teacher, gpt-oss-120b judge). Every number carries its interval: a 95% bootstrap over the 34 test
# conversations and, when an arm was trained with several seeds, over its seeds too (with one seed per arm
# the intervals cover test sampling only); a paired interval for TFT − Direct with its verdict and the
# smallest difference the sample detects; and the spread over training seeds when several were run.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
METRIC = "llm_as_a_judge"  # the table's metric, one of:
# llm_as_a_judge | staged_tool_call | binary_tool_call | tool_call_equivalence | rouge_l

# %%
from IPython.display import Markdown, display

from tft_utils.core.io import write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.report.cost import cost_text, run_cost
from tft_utils.report.record import record_text
from tft_utils.report.tables import (
    frame_markdown,
    interval_text,
    load_results,
    per_function_table,
    plot_arms,
    plot_deltas,
    plot_per_function,
    plot_stage_effects,
    save_figure,
    service_calls_text,
    setup_text,
    stage_effects,
    study_table,
    table_markdown,
    teacher_text,
    write_report,
)

# %% [markdown]
# ## 1. What produced these results

# %%
params = load_params(PROFILE, None, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR)
results = load_results(paths["run"], SCENARIOS)
display(Markdown(setup_text(results)))

# %% [markdown]
# ## 2. The study's table
#
# Ours beside the published numbers; Δ = TFT − Direct on the same test pairs, with its verdict, the smallest Δ this sample detects, and what the intervals cover. When the teacher is an endpoint model, its own score on the same pairs (notebook 06's teacher arm) sits beside the students', with the publishers' score for that model when they report one.

# %%
table = study_table(results, METRIC)
files = write_report(paths["report"], table, results, METRIC)
shown = [table_markdown(table), interval_text(results, METRIC), teacher_text(results, METRIC)]
display(Markdown("\n\n".join(text for text in shown if text)))

# %% [markdown]
# ## 3. Scores per scenario, with intervals

# %%
fig = plot_arms(results, METRIC)
files["scores_png"] = save_figure(fig, paths["report"] / "scores.png")

# %% [markdown]
# ## 4. TFT − Direct: ours vs published
#
# Each dot is our Δ with its paired 95% bootstrap interval, each square the published Δ; the faint error bar
# beside the dot is the interval widened for few seeds (t); the grey band, ±2 sd of Δ between pairs of seeds,
# shows how far one more seed could move Δ (a noise floor).

# %%
fig = plot_deltas(table)
files["delta_png"] = save_figure(fig, paths["report"] / "delta.png")

# %% [markdown]
# ## 5. Per function

# %%
display(
    per_function_table(results, METRIC)
    .pivot_table(index=["scenario", "function"], columns="arm", values=METRIC)
    .round(3)
)
display(Markdown(service_calls_text(results)))
fig = plot_per_function(results, METRIC)
files["per_function_png"] = save_figure(fig, paths["report"] / "per_function.png")

# %% [markdown]
# ## 6. What each TFT stage removed or fixed, per kind of noise

# %%
effects = stage_effects(results)
display(Markdown(frame_markdown(effects)))
fig = plot_stage_effects(effects)
files["stage_effects_png"] = save_figure(fig, paths["report"] / "stage_effects.png")

# %% [markdown]
# ## 7. What it cost
#
# Each student's training as it was recorded when it trained (a student reused from an earlier session
# keeps its own time), the machine it ran on, and the shared tool-calling base once, apart; then each
# model's prediction of the test pairs.

# %%
cost, base_cost, predict_cost = run_cost(paths["run"], SCENARIOS, params)
display(Markdown(cost_text(cost, base_cost, predict_cost) + "\n\n" + frame_markdown(cost)))
display(Markdown(frame_markdown(predict_cost)))

# %% [markdown]
# ## 8. Record the results

# %%
report = {
    "metric": METRIC,
    "table": table.reset_index().to_dict(orient="records"),
    "files": files,
    "cost": {
        "students": cost.to_dict(orient="records"),
        "tool_base": base_cost,
        "predictions": predict_cost.to_dict(orient="records"),
    },
    "provenance": provenance(params),
}
recorded = write_json(paths["report"] / "report.json", report)
display(Markdown(record_text(report)))
