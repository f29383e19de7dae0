"""Notebook 05: train the Direct and the TFT student of a scenario, same budget, every seed.

- Direct trains on the scenario's raw traces (`traces.jsonl`), whole conversations, loss on every call
  (the same signal as the per-turn pairs of `direct_train.jsonl`, several times fewer tokens).
- TFT trains on the validated synthetic conversations of notebook 04 plus, by default, the cleaned
  seed traces of notebook 03 (`train.tft_data`); turns the committee masked are context, not targets.
Both arms share `train.max_steps` / `train.epochs`, so the comparison is budget for budget. Models go
to `models/<arm>-seed<N>` (`core.paths.model_dir`); a model whose fingerprint (data, base, params, seed,
code) is unchanged is not retrained, a killed one resumes from its checkpoint (`tft_utils.core.fresh`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from tft_utils.core.io import read_json, read_jsonl
from tft_utils.core.paths import model_dir
from tft_utils.train.loop import NOT_IN_WEIGHTS, conversations_from_rows, load_tools, train

TFT_DATA = ("synthetic+seeds", "synthetic", "seeds")


def arm_sources(paths: dict, params: dict, pipelines) -> dict[str, list[Path]]:
    """The files each asked-for arm trains on."""
    wanted = {}  # arm -> [(file, the notebook that writes it)]
    if "direct" in pipelines:
        wanted["direct"] = [(paths["traces"], "02")]
    if "tft" in pipelines:
        what = params["train"]["tft_data"]
        if what not in TFT_DATA:
            raise ValueError(f"train.tft_data must be one of {', '.join(TFT_DATA)}, got {what!r}")
        wanted["tft"] = [(paths["synth"] / "synthetic.jsonl", "04")] * ("synthetic" in what) + [
            (paths["clean"] / "kept.jsonl", "03")
        ] * ("seeds" in what)
    for arm, files in wanted.items():
        for f, stage in files:
            if not Path(f).exists():
                raise FileNotFoundError(f"{arm}: {f} is missing (run notebook {stage} first)")
    return {arm: [f for f, _ in files] for arm, files in wanted.items()}


def training_sets(sources: dict[str, list[Path]]) -> dict[str, list[dict]]:
    """{arm: conversations}: each file read and checked, rows kept in file order."""
    return {
        arm: [c for f in files for c in conversations_from_rows(read_jsonl(f), str(f))]
        for arm, files in sources.items()
    }


def size_table(sets: dict[str, list[dict]]) -> pd.DataFrame:
    """Conversations, messages and supervised (unmasked) assistant turns per arm."""
    rows = []
    for arm, convs in sets.items():
        calls = [m for c in convs for m in c["messages"] if m.get("role") == "assistant"]
        rows.append(
            {
                "arm": arm,
                "conversations": len(convs),
                "messages": sum(len(c["messages"]) for c in convs),
                "assistant_turns": len(calls),
                "supervised_turns": sum(not m.get("masked") for m in calls),
            }
        )
    return pd.DataFrame(rows).set_index("arm")


# The modules whose code shapes a student's weights: an edit elsewhere in the package (a report, the
# judge) leaves trained students valid; an edit here retrains them. train/render.py reads and writes
# calls with domain/calls.py (which names the tools from domain/tools.py).
STUDENT_CODE = (
    "train/loop.py",
    "train/bottom.py",
    "train/render.py",
    "domain/calls.py",
    "domain/tools.py",
    "train/student.py",
    "train/tool_base.py",
    "core/io.py",
)


def student_fingerprint(convs: list[dict], paths: dict, params: dict, seed: int, base=None) -> dict:
    """What a trained student is made of: its training conversations, the base model (`base`: the one
    given, else `student_base`, which builds it when missing), the tools, the training and student
    parameters, the seed and the code of `STUDENT_CODE` (`tft_utils.core.fresh`)."""
    from tft_utils.core import fresh
    from tft_utils.train.tool_base import student_base

    student = {k: v for k, v in params["student"].items() if k != "cache_dir"}  # where, not what
    train = {k: v for k, v in params["train"].items() if k not in NOT_IN_WEIGHTS}
    base = base or student_base(params)
    return fresh.make(
        "student",
        {"train": {**train, "seed": seed}, "student": student},
        {"base": base, "tools": paths["data"] / "tools.json"},
        seed=seed,
        code=STUDENT_CODE,
        data={"conversations": convs},
    )


def train_arms(sets: dict[str, list[dict]], paths: dict, params: dict, log=print) -> pd.DataFrame:
    """Train every arm x seed whose model is missing or stale; one row of training stats per model."""
    from tft_utils.core import fresh
    from tft_utils.train.bottom import SharedBottom

    tools = load_tools(paths["data"] / "tools.json")
    # later seeds and the other arm reuse the frozen bottom's outputs of the sequences seen before
    shared = SharedBottom(params["train"]["shared_bottom_mb"])
    rows = []
    for arm, convs in sets.items():
        for seed in params["run"]["seeds"]:
            out = model_dir(paths, arm, seed)
            fp = student_fingerprint(convs, paths, params, seed)
            if fresh.reuse(out, fp, fresh.forced(params), log, f"{arm} seed {seed}"):
                stats = read_json(out / "train_stats.json")
            else:
                log(f"{arm} seed {seed}: training on {len(convs)} conversations -> {out}")
                fresh.begin(out, fp, leftovers=[out])  # a checkpoint of other params is not resumed
                p = {**params, "train": {**params["train"], "seed": seed}}
                t0 = time.time()
                stats = train(convs, out, p, tools, shared=shared)
                stats["wall_seconds"] = round(time.time() - t0, 1)
                if shared.held:
                    log(
                        f"{arm} seed {seed}: {stats['bottom_reused']} forward passes began from the frozen bottom's "
                        f"kept outputs ({len(shared.held)} sequences kept, {shared.bytes / 2**20:.0f} MB)"
                    )
                fresh.stamp(out, fp)
            rows.append({"arm": arm, "seed": seed, **{k: v for k, v in stats.items() if k != "history"}})
    return pd.DataFrame(rows)


def plot_curves(paths: dict, table: pd.DataFrame):
    """Training loss per optimizer step of every model, smoothed over 10 steps."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for _, r in table.iterrows():
        hist = read_json(model_dir(paths, r["arm"], r["seed"]) / "train_stats.json")["history"]
        loss = pd.Series([h["loss"] for h in hist], index=[h["step"] for h in hist])
        ax.plot(loss.rolling(10, min_periods=1).mean(), label=f"{r['arm']} seed {r['seed']}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per supervised token")
    ax.set_title("student training loss (10-step mean)")
    ax.legend()
    fig.tight_layout()
    return fig
