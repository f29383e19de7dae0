# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Scenarios: the noise each pipeline faces
#
# Applies one scenario of STUDY §3 to the training pool: S1 clean, S2 noisy labels, S3 schema drift,
# S4 five traces, S5 traffic from another domain. Every change is seeded and recorded per turn in
# `corruptions.jsonl`; this notebook counts and shows them so the reader knows exactly what the cleaning
# stages (03) were up against. The cleaning stages never read that file.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SCENARIO = "s1"  # s1 | s2 | s3 | s4 | s5

# %%
import pandas as pd
from IPython.display import display

from tft_utils.core.io import read_jsonl, write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.data.figures import (
    conversation_text,
    corruption_examples,
    corruption_table,
    plot_calls,
    plot_corruptions,
)
from tft_utils.data.scenarios import write_scenario
from tft_utils.data.sgd import resolve_sgd_dir
from tft_utils.data.traces import load_traces

pd.set_option("display.max_colwidth", 200)  # whole calls and reasons in the tables below

# %% [markdown]
# ## 1. Parameters and paths

# %%
params = load_params(PROFILE, SCENARIO, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR, SCENARIO)
params["scenario"]

# %% [markdown]
# ## 2. Build the scenario

# %%
sgd_dir = resolve_sgd_dir(params["data"]["sgd_dir"], params["data"]["sgd_url"])
stats = write_scenario(SCENARIO, paths["data"], sgd_dir, paths["scenario"], params, params["run"]["seed"])
{k: v for k, v in stats.items() if k != "function_name_counts"}

# %% [markdown]
# ## 3. What was corrupted, by kind

# %%
traces = load_traces(paths["traces"])
rows = read_jsonl(paths["corruptions"])
table = corruption_table(rows, stats["assistant_calls"], stats["traces"])
display(table)
fig = plot_corruptions(table, SCENARIO)

# %% [markdown]
# ## 4. Examples: before → after
#
# The kinds of change, each recorded per turn: S2 `swap_tool` (a search called as a booking or back, same
# arguments), `swap_params` (another trace's arguments), `to_respond` (a service call replaced by a reply from
# elsewhere in the pool), `to_service_call` (a reply replaced by another trace's service call), `foreign_domain`
# (a reply replaced by one from hotel dialogues); S3 `rename` (functions and slots under another schema
# version's names, SGD-X); S5 `hotel_renamed` (a hotel call renamed to the restaurant functions) and
# `shuffled` (a hotel trace's messages put in a random order: `after` lists the old positions).

# %%
corruption_examples(rows)

# %% [markdown]
# ## 5. Function names in the training traces

# %%
fig = plot_calls({SCENARIO: traces})

# %% [markdown]
# ## 6. One training trace as the pipelines see it

# %%
shown = next((t for t in traces if any(r["dialogue_id"] == t["dialogue_id"] for r in rows)), traces[0])
print(conversation_text(shown))

# %% [markdown]
# ## 7. Record the results

# %%
recorded = write_json(
    paths["scenario"] / "02_results.json", {"stats": stats, "provenance": provenance(params)}
)
