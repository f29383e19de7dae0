# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Data: SGD dialogues → tool-calling traces
#
# Converts the Restaurants_1 dialogues of the Schema-Guided Dialogue dataset into OpenAI-format traces
# (STUDY §2), splits them into the training pool (327 conversations) and the test set (the published benchmark's
# 34 conversations, expanded into one evaluation pair per assistant turn), and writes the tool schemas. Every
# scenario of the study starts from these files. Each assistant turn is a tool call: a service call
# (`FindRestaurants`, `ReserveRestaurant`) or `respond_to_user(message)`, the reply to the user as a call, so
# "what does the assistant do next" is always one call to predict.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SGD_DIR = None  # None: data.sgd_dir, $TFT_SGD_DIR, data/sgd, then download

# %%
from IPython.display import display

from tft_utils.core.io import read_json, read_jsonl, write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths, shown
from tft_utils.core.provenance import provenance
from tft_utils.data.figures import call_counts, conversation_text, plot_calls, plot_lengths
from tft_utils.data.sgd import resolve_sgd_dir
from tft_utils.data.traces import build_dataset, load_traces

# %% [markdown]
# ## 1. Parameters and paths

# %%
params = load_params(PROFILE, None, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR)
params["data"]

# %% [markdown]
# ## 2. Locate the SGD files

# %%
sgd_dir = resolve_sgd_dir(SGD_DIR or params["data"]["sgd_dir"], params["data"]["sgd_url"])
print(shown(sgd_dir))

# %% [markdown]
# ## 3. Convert and split
#
# 327 training traces, 34 test conversations → 360 pairs (`sgd`) or 359 (`published`); `excluded`: the
# dialogues the benchmark's publishers left out of both (`tft_utils/resources/excluded_dialogue_ids.txt`).

# %%
d = params["data"]
stats = build_dataset(
    sgd_dir, paths["data"], d["service"], d["test_set"], d["published_test"], d["test_ids"], d["excluded_ids"]
)
stats

# %% [markdown]
# ## 4. One trace, read as a conversation

# %%
pool = load_traces(paths["data"] / "train_pool.jsonl")
test = load_traces(paths["data"] / "test.jsonl")
print(conversation_text(test[0]))

# %% [markdown]
# ## 5. Conversation lengths: training pool vs test set
#
# Messages per conversation (user turns, assistant calls and tool results) and assistant turns per conversation.

# %%
fig = plot_lengths({"train pool": pool, "test": test})

# %% [markdown]
# ## 6. Which tools the assistant calls
#
# Counts of assistant turns by the function they call, replies (`respond_to_user`) included.

# %%
display(call_counts({"train pool": pool, "test": test}))
fig = plot_calls({"train pool": pool, "test": test})

# %% [markdown]
# ## 7. Evaluation pairs and tool schemas

# %%
pairs = read_jsonl(paths["data"] / "test_pairs.jsonl")
tools = read_json(paths["data"] / "tools.json")
print(len(pairs), "pairs;", [t["function"]["name"] for t in tools])
pairs[0]["answer"]

# %% [markdown]
# ## 8. Record the results

# %%
recorded = write_json(paths["data"] / "01_results.json", {"stats": stats, "provenance": provenance(params)})
