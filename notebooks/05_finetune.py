# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Fine-tune the Direct and the TFT students
#
# Trains two students from the same base model with the same budget (STUDY §4-5): **Direct** on the
# scenario's raw traces, **TFT** on the validated synthetic conversations of notebook 04 plus the cleaned
# traces of notebook 03 (`kept.jsonl`; turns the committee masked are context, not targets). Both start from
# the **tool base** (`student.tool_base: sgd`): SmolLM2 first taught tool calling on 13 SGD services the study
# never tests, built once per machine and cached, so neither arm spends its budget learning the call format. LoRA through peft, merged
# into the base afterwards; one sequence per conversation with the loss on every assistant call and on
# nothing else; one model per training seed (`run.seeds`), `run.jobs` of them side by side in worker processes.
# Records sizes, time, tokens/s and final loss.

# %% tags=["parameters"]
PROFILE = "cpu"  # cpu | teach | paper | smoke
RUN_DIR = "outputs/default"  # outputs/<run>; paths are relative to the repository root
OVERRIDES = []  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]  # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (read by 07; tft run passes it to all)
SCENARIO = "s1"  # s1 | s2 | s3 | s4 | s5

# %%
from tft_utils.core.io import write_json
from tft_utils.core.params import load_params
from tft_utils.core.paths import run_paths
from tft_utils.core.provenance import provenance
from tft_utils.train.arms import arm_sources, plot_curves, size_table, train_arms, training_sets
from tft_utils.train.student import base_model_dir, pick_device

# %% [markdown]
# ## 1. Parameters: the student, the budget, the seeds

# %%
params = load_params(PROFILE, SCENARIO, OVERRIDES, run_dir=RUN_DIR)
paths = run_paths(RUN_DIR, SCENARIO)
base = base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
device = pick_device(params["student"]["device"], params["student"]["dtype"])
(
    {"student": base.name, "device": str(device), "seeds": params["run"]["seeds"]}
    | {k: params["student"][k] for k in ("tool_base", "tool_base_steps")}
    | {"train": params["train"]}
)

# %% [markdown]
# ## 2. What each arm trains on

# %%
sources = arm_sources(paths, params, PIPELINES)
sets = training_sets(sources)
sizes = size_table(sets)
sizes

# %% [markdown]
# ## 3. Train (a finished model is kept; a killed run resumes from its checkpoint)
#
# `sequences`: conversations longer than `train.max_tokens` continue in a new sequence with recent context, so
# there are more sequences than conversations; `tokens`: every token trained on; `supervised_tokens`: those
# carrying loss (the assistant's calls); `final_loss`: the mean loss per supervised token of the last 5 steps
# (the progress bar shows the last step's alone).

# %%
stats = train_arms(sets, paths, params)
columns = ["arm", "seed", "conversations", "sequences", "steps", "tokens", "supervised_tokens", "seconds"]
stats[[*columns, "tokens_per_s", "final_loss", "device", "dtype"]]

# %% [markdown]
# ## 4. Training curves

# %%
fig = plot_curves(paths, stats)

# %% [markdown]
# ## 5. Record the results

# %%
recorded = write_json(
    paths["scenario"] / "05_results.json",
    {
        "sizes": sizes.reset_index().to_dict(orient="records"),
        "sources": {a: [str(f) for f in fs] for a, fs in sources.items()},
        "training": stats.to_dict(orient="records"),
        "provenance": provenance(params),
    },
)
