# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Synthesize and validate
#
# TFT step 3 and 4 (STUDY §4): the teacher writes new conversations, one per call, from the cleaned
# seed traces of notebook 03 plus the task description and tool schema, spread over four mutation topics
# whose length windows follow the test set; every candidate is validated (parse, tool schema, length,
# near-duplicates of a seed, another synthetic conversation or **any test conversation**, judge score)
# and every rejection keeps its reasons. With the `rules` teacher (profile `cpu`) the conversations come
# from a dialogue-flow simulator whose utterances are the seeds' own, de-lexicalised and re-filled, and
# whose tool results come from a catalogue of the seeds' restaurants. Output: `synth/synthetic.jsonl`
# (the student's TFT training set), `synth/rejected.jsonl`, `synth/synth_stats.json`.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft (this notebook belongs to tft)
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SCENARIO = "s1"  # s1 | s2 | s3 | s4 | s5

# %%
import pandas as pd
from IPython.display import display

from tft_utils.core.io import read_jsonl, write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.data.traces import load_traces
from tft_utils.llm.backends import LEDGER
from tft_utils.synth.pipeline import seed_rows, synthesize
from tft_utils.synth.report import (
    candidate_rows,
    flow_table,
    grounding_failures,
    grounding_table,
    judge_calibration,
    leakage_summary,
    length_frame,
    plot_coverage,
    plot_lengths,
    plot_rejections,
    plot_similarity,
    plot_topics,
    rejection_table,
    similarity_frame,
    tool_call_table,
    topic_examples,
    topic_turn_table,
    uncovered_flows,
    with_data_paths,
)

pd.set_option("display.max_colwidth", 200)  # whole calls and reasons in the tables below

# %% [markdown]
# ## 1. Parameters and paths
#
# The teacher and judge roles, the target count, the topic windows and the validation thresholds.

# %%
paths = run_paths(RUN_DIR, SCENARIO)
params = with_data_paths(load_params(PROFILE, SCENARIO, OVERRIDES, run_dir=RUN_DIR), paths["data"])
seeds_path = paths["clean"] / "kept.jsonl"  # the cleaned traces of notebook 03
out = paths["synth"]
{
    "roles": {k: params["roles"][k] for k in ("teacher", "judge")},
    "synth": params["synth"],
    "validate": params["validate"],
}

# %% [markdown]
# ## 2. Synthesize and validate
#
# Resumable: candidates already in `synth/candidates.jsonl` are replayed, not regenerated; LLM calls come from the shared call cache.

# %%
stats = synthesize(seeds_path, out, params)
{k: v for k, v in stats.items() if k not in ("bank", "leakage_check")}  # the check is in section 7

# %% [markdown]
# ## 3. What the teacher had to work with
#
# Seeds used, and (rules teacher) the template bank and catalogue mined from them. `builtin_share` is the share of utterances that came from the simulator's fallback wording because no seed showed that act.

# %%
seeds = seed_rows(seeds_path, params["synth"]["n_seeds"], params["run"]["seed"])
synthetic = read_jsonl(out / "synthetic.jsonl")
meta = read_jsonl(out / "synthetic_meta.jsonl")
rejected = read_jsonl(out / "rejected.jsonl")
test = load_traces(params["validate"]["test_path"]) if params["validate"]["test_path"] != "none" else []
display({"seeds": len(seeds), "builtin_share": stats["builtin_share"]})
stats["bank"]

# %% [markdown]
# ## 4. Length distribution against the test set
#
# Turns = user utterances + assistant replies (service calls and tool results not counted); grey bars are the topic windows.

# %%
lengths = length_frame({"synthetic": synthetic, "test": test, "seeds": seeds})
display(lengths.groupby("set")[["turns", "messages"]].describe().round(1))
fig = plot_lengths(lengths[lengths["set"] != "seeds"], params["synth"]["topics"])

# %% [markdown]
# ## 5. Topic spread

# %%
topic_table, fig = plot_topics(meta)
topic_table

# %% [markdown]
# ## 6. Rejection reasons
#
# The first reason of each rejected candidate (a candidate may have several; all are in `rejected.jsonl`).

# %%
reasons = rejection_table(rejected)
display(reasons)
fig = plot_rejections(stats, reasons)
[(r["dialogue_id"], r["reasons"]) for r in rejected[:5]]

# %% [markdown]
# ## 7. Near-duplicates and leakage
#
# Nearest-neighbour similarity of each validated conversation to the seeds, the test set and the other synthetic conversations, beside the baseline of two distinct real training conversations. The dashed lines are the rejection thresholds.

# %%
pool = load_traces(paths["data"] / "train_pool.jsonl")
sims = similarity_frame(synthetic, seeds, test, pool, params["validate"]["ngram"])
display(sims.groupby("pair")["jaccard"].describe(percentiles=[0.5, 0.9, 0.99]).round(3))
fig = plot_similarity(sims, params["validate"])

# %%
leakage_summary(stats)

# %% [markdown]
# ## 8. Grounding: every value said or returned before
#
# `tft_utils/synth/grounding.py`: each call's values come from the user's words or earlier tool results, each
# name, address, phone, price or fact a reply states from a tool result, a booking is confirmed only after
# a `ReserveRestaurant` that succeeded, with its details. Calibrated on the human-written traces (their
# few failures are SGD's own mistakes, listed below); the teacher's candidates are checked *before*
# validation removes the failures.

# %%
candidates = candidate_rows(out)
grounded = grounding_table(
    {
        "real S1 training traces": pool,
        "test set": test,
        "teacher candidates (before validation)": candidates,
        "validated synthetic": synthetic,
    }
)
grounded

# %%
display(grounding_failures(candidates, k=5))
grounding_failures(pool + test, k=6)  # the human-written ones that fail, and why

# %% [markdown]
# ## 9. Flow coverage: synthetic against real and test conversations
#
# Share of conversations showing each flow (one may show several), service calls per conversation, and
# turns per mutation topic beside the test set's. Every flow of the test set must appear in the synthetic set.

# %%
flows = flow_table({"test": test, "real pool": pool, "seeds": seeds, "synthetic": synthetic})
print(
    "flows of the test set missing from the synthetic set:",
    uncovered_flows(flows, "test", "synthetic") or "none",
)
flows

# %%
tool_calls = tool_call_table({"test": test, "real pool": pool, "synthetic": synthetic})
display(tool_calls)
display(topic_turn_table(meta, test, params["synth"]["topics"]))
fig = plot_coverage(flows, tool_calls, meta, test)

# %% [markdown]
# ## 10. The judge on real traces
#
# The rules judge scored on the real training pool: if it rejected many real SGD conversations it would bias the synthetic set away from real conventions.

# %%
calibration = judge_calibration(pool, params["validate"]["min_judge"])
calibration

# %% [markdown]
# ## 11. One synthetic conversation per topic

# %%
print(topic_examples(synthetic, meta, params["synth"]["topics"]))

# %% [markdown]
# ## 12. The call ledger
#
# Teacher and judge calls, cache hits, tokens and cost (empty with the `rules` backends: no LLM was called).

# %%
LEDGER.table()

# %% [markdown]
# ## 13. Record the results

# %%
recorded = write_json(
    paths["scenario"] / "04_results.json",
    {
        "stats": stats,
        "judge_calibration": calibration,
        "grounding": grounded.reset_index().to_dict(orient="records"),
        "flows": flows.reset_index().to_dict(orient="records"),
        "similarity": sims.groupby("pair")["jaccard"].max().round(4).to_dict(),
        "ledger": LEDGER.rows(),
        "provenance": provenance(params),
    },
)
