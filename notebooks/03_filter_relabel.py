# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Filter, align and relabel (TFT steps 1-2)
#
# TFT's cleaning of the scenario's traces (STUDY §4.1-4.2): every trace is scored for relevance and
# coherence (1-5, with a reason) and kept at or above the thresholds; foreign tool and parameter names are
# mapped onto the target schema; a committee of independent relabelers proposes every assistant call,
# votes stage by stage (name → keys → values), keeps what it agrees on and masks the rest out of training.
# The stages read only `traces.jsonl`. Because our corruptions are recorded per turn, the last sections
# score each stage against the known noise: per kind of corruption, how much the filter dropped and the
# committee restored (the scenario's `corruptions.jsonl` is read here, for scoring only).

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SCENARIO = "s1"  # s1 | s2 | s3 | s4 | s5

# %%
from IPython.display import display

from tft_utils.clean.pipeline import run_clean
from tft_utils.clean.report import (
    confusion,
    example_turn,
    kind_record,
    mapping_table,
    per_kind,
    plot_confusion,
    plot_per_kind,
    plot_scores,
    score_distribution,
    targets,
    turn_outcomes,
)
from tft_utils.core.io import read_jsonl, write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.data.traces import load_traces
from tft_utils.llm.backends import LEDGER

# %% [markdown]
# ## 1. Parameters and paths
#
# The filter thresholds, the aligner's evidence weights and the committee.

# %%
params = load_params(PROFILE, SCENARIO, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR, SCENARIO)
out = paths["clean"]
{k: params[k] for k in ("filter", "align", "relabel")} | {"roles": params["roles"]}

# %% [markdown]
# ## 2. Clean: filter → align → committee relabel
#
# A finished run with the same traces and parameters is not redone.

# %%
stats = run_clean(paths["traces"], out, params)
{
    k: stats[k]
    for k in ("traces_in", "kept", "dropped", "turns", "decisions", "masked_share", "renamed_traces")
}

# %% [markdown]
# ## 3. Filter scores: kept and dropped traces
#
# Groups: the trace's service (S3, S5) or, in S2, whether the scenario corrupted it.

# %%
traces = load_traces(paths["traces"])
corruptions = read_jsonl(paths["corruptions"])
scores = read_jsonl(out / "scores.jsonl")
dist = score_distribution(scores, traces, corruptions)
display(dist.groupby("group")[["relevance", "coherence", "kept"]].mean().round(3))
fig = plot_scores(dist)

# %% [markdown]
# Why traces were dropped (the first reasons). A coherence reason counts problems per assistant turn (`rate`:
# ordering problems count 1, ungrounded values and result mismatches 0.5 each, so it can pass 1); each cut of
# `filter.coherence_cuts` it passes costs a point of the 5.

# %%
display([(d["dialogue_id"], d["drop_reason"]) for d in read_jsonl(out / "dropped.jsonl")[:8]])

# %% [markdown]
# ## 4. Alignment: foreign names mapped onto the target schema, with their evidence

# %%
mapping_table(read_jsonl(out / "align.jsonl"))

# %% [markdown]
# ## 5. The committee: decisions and agreement between members
#
# `mean_stage_agreement`: over the assistant turns, the mean share of members agreeing on the function's name,
# then on its argument keys, then on their values; `member_agreement`, for each pair of members: how often they
# propose the same function (`name`) and the same whole call (`call`), over the turns both voted on (`both_voted`).

# %%
{k: stats[k] for k in ("members", "decisions", "mean_stage_agreement", "member_agreement")}

# %% [markdown]
# ## 6. Relabel changes: logged function → final function (or masked)

# %%
turns = read_jsonl(out / "turns.jsonl")
pool = load_traces(paths["data"] / "train_pool.jsonl")
df = turn_outcomes(traces, corruptions, pool, scores, turns)
conf = confusion(df)
display(conf)
fig = plot_confusion(conf)

# %% [markdown]
# ## 7. Scored against the known noise
#
# Per kind of turn (`clean` = not corrupted): dropped with its trace by the filter, masked by the committee, restored (final call = the clean call), or left wrong.

# %%
kinds = per_kind(df)
display(kinds)
fig = plot_per_kind(kinds, SCENARIO)
targets(df)

# %% [markdown]
# ## 8. One relabelled turn, read in its conversation
#
# The first turn the committee relabelled; where it relabelled none (S1, S4, S5), the first it masked instead (`masked`:
# kept as context, not trained on). `>>` marks the turn.

# %%
print(example_turn(turns, read_jsonl(out / "kept.jsonl")))

# %% [markdown]
# ## 9. The call ledger
#
# Committee, filter and teacher calls (empty with the `rules` backends: no LLM was called).

# %%
LEDGER.table()

# %% [markdown]
# ## 10. Record the results

# %%
recorded = write_json(
    paths["scenario"] / "03_results.json",
    {
        "clean": {k: v for k, v in stats.items() if k not in ("provenance", "ledger")},
        "targets": targets(df),
        "per_corruption_kind": kind_record(kinds),
        "ledger": LEDGER.rows(),
        "provenance": provenance(params),
    },
)
