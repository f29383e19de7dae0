# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Evaluate: base, Direct and TFT students on the test pairs
#
# Predicts every evaluation pair (one per assistant turn of the 34 test conversations) with the base both
# students start from (the tool base, never tuned on restaurants; the plain SmolLM2 when `student.tool_base` is
# `none`), the Direct student and the TFT student (each training seed; `run.jobs` models side by side),
# scores them with every metric of STUDY §6 and the configured judge, and records the scenario's results for the report. Intervals are
# 95% bootstraps over test conversations (360 pairs come from only 34 conversations) and, when an arm has
# several training seeds, over its seeds too (two-level bootstrap); with one seed per arm they cover test
# sampling only. TFT − Direct is a paired comparison on the same pairs, with a verdict and the smallest
# difference this sample detects.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SCENARIO = "s1"  # s1 | s2 | s3 | s4 | s5
WORST_K = 3  # worst turns shown per trained arm (an integer >= 0)

# %%

from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.evaluate.compare import (
    arms_frame,
    confusion_frame,
    paired_frame,
    per_function_frame,
    plan_arms,
    predict_arms,
    record,
    results_frame,
    scenario_results,
    score_arms,
    seed_table,
    service_calls_frame,
    worst_turns_by_arm,
)
from tft_utils.evaluate.score import score_baselines
from tft_utils.llm.backends import LEDGER
from tft_utils.report.model_card import write_cards

# %% [markdown]
# ## 1. The models to evaluate

# %%
params = load_params(PROFILE, SCENARIO, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR, SCENARIO)
pairs_path = paths["data"] / "test_pairs.jsonl"
arms = plan_arms(paths, params, PIPELINES)
arms_frame(arms)

# %% [markdown]
# ## 2. Predict (greedy; skipped where predictions are newer than the model)

# %%
predict_arms(arms, pairs_path, params)

# %% [markdown]
# ## 3. Score every pair
#
# The metrics (STUDY §6), each a mean over the pairs: `llm_as_a_judge`, the share of pairs the judge calls good
# (the `cpu` profile's judge is an offline rubric, `evaluate.judge: rubric`, not an LLM; the `paper` profile's is
# gpt-oss-120b); `staged_tool_call`, partial credit up a ladder (0 unparseable, 0.25 parses, 0.5 right function,
# 0.75 right parameter names, 1 right values); `binary_tool_call`, 1 for the exact call; `tool_call_equivalence`,
# the same after normalising value types, case and spaces; `rouge_l`, the longest common word
# sequence with the gold text (ROUGE-L F).

# %%
scored = score_arms(arms, params)
results = scenario_results(scored, params, SCENARIO)
print(results.interval.text)
results_frame(results)

# %% [markdown]
# ## 4. TFT − Direct on the same pairs (paired bootstrap)
#
# verdict: TFT ahead / behind when the paired interval lies above / below 0, else no difference detected.
# min_detectable_diff: the smallest difference this sample detects with 80% power, from the interval's
# half-width h: h × (z₀.₉₇₅ + z₀.₈) / z₀.₉₇₅ ≈ 1.43 h (`tft_utils.evaluate.stats.min_detectable_difference`).
# t_ci_low, t_ci_high, t_verdict: the same Δ with its interval widened for few seeds: a bootstrap over two
# seeds sees three mixes of them and underestimates the seed's effect, so the seeds' spread (less its
# test-pair noise) is added with Student's t on their degrees of freedom, seed_df (`stats.t_interval`; empty
# when the seeds' spread is no larger than the test-pair noise in it, and the t interval is the bootstrap's).
# p_not_better: the share of bootstrap replicates in which TFT does not beat Direct.

# %%
paired_frame(results) if results.paired else "only one trained arm in this run"

# %% [markdown]
# ## 5. Spread over training seeds (the noise floor)

# %%
seed_table(results)

# %% [markdown]
# ## 6. The service calls, per model
#
# Of the pairs whose gold answer is a service call (`FindRestaurants` / `ReserveRestaurant`: 72 of the 360
# `sgd` test pairs): how many the judge calls good, how many call the right function and how many are exact
# calls; and how many reply pairs got a service call instead. A student that replies plausibly but never
# calls scores well on the reply turns and near zero here (the targets set for the `cpu` student: Direct ≥ 36
# judged good and ≥ 29 exact on S1).

# %%
service_calls_frame(results)

# %% [markdown]
# ## 7. Which function each model called (rows: gold, columns: predicted; summed over an arm's seeds)

# %%
confusion_frame(results)

# %% [markdown]
# ## 8. Scores per gold function

# %%
per_function_frame(results)

# %% [markdown]
# ## 9. Reference baselines: the floor any student must clear
#
# Scored by the same code: `gold` (the answer itself: 1.0 everywhere), `fixed_question` (always the same
# question to the user) and `repeat_previous` (the conversation's previous assistant call, again).

# %%
score_baselines(pairs_path, params).round(3)

# %% [markdown]
# ## 10. The worst turns, read as conversations (each arm's first training seed)

# %%
print(worst_turns_by_arm(scored, WORST_K))

# %% [markdown]
# ## 11. The call ledger
#
# The endpoint teacher's answers to the test turns (stage `evaluate`) and the LLM judge's verdicts (stage
# `judge`): calls, cache hits, HTTP requests, tokens and cost, kept in `06_ledger.json` (empty when neither
# role is an endpoint: no LLM was called).

# %%
LEDGER.save(paths["scenario"] / "06_ledger.json")
LEDGER.table()

# %% [markdown]
# ## 12. Record the results

# %%
recorded = record(paths, results, provenance(params))
cards = write_cards(paths)  # a Hugging Face model card (README.md) in every student's folder
