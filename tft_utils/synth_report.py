"""Tables and figures for notebook 04 (synthesize and validate): lengths against the test set,
topics, rejection reasons, nearest-neighbour similarity against a real-data baseline, the ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tft_utils.validate import NearDup, dialogue_text, judge_conversation, turns


def with_data_paths(params: dict, data_dir: str | Path) -> dict:
    """Fill synth.tools_path / validate.test_path from the run's data folder when they are unset."""
    data_dir = Path(data_dir)
    params["synth"]["tools_path"] = params["synth"]["tools_path"] or str(data_dir / "tools.json")
    params["validate"]["test_path"] = params["validate"]["test_path"] or str(data_dir / "test.jsonl")
    return params


def length_frame(named: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per conversation: set, turns (utterances), messages."""
    return pd.DataFrame(
        [
            {"set": name, "turns": turns(r), "messages": len(r["messages"])}
            for name, rows in named.items()
            for r in rows
        ]
    )


def plot_lengths(frame: pd.DataFrame, topics: dict):
    """Share of conversations per turn count, synthetic vs test, with the topic windows shaded."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    bins = range(int(frame["turns"].min()) - 1, int(frame["turns"].max()) + 3)
    for name, part in frame.groupby("set"):
        ax.hist(part["turns"], bins=bins, density=True, alpha=0.5, label=f"{name} (n={len(part)})")
    for k, (topic, t) in enumerate(sorted(topics.items(), key=lambda kv: kv[1]["min_turns"])):
        ax.axvspan(
            t["min_turns"],
            t["max_turns"] + 1,
            ymin=0.9 - 0.07 * k,
            ymax=0.96 - 0.07 * k,
            alpha=0.3,
            color="grey",
        )
        ax.text(t["max_turns"] + 1.2, ax.get_ylim()[1] * (0.92 - 0.07 * k), topic, fontsize=7, va="center")
    ax.set(
        xlabel="turns (user utterances + assistant replies)",
        ylabel="share of conversations",
        title="Conversation length: synthetic vs test",
    )
    ax.legend()
    return fig


def rejection_table(rejected: list[dict]) -> pd.DataFrame:
    """Rejections by the kind of their first reason, and how many carried each reason at all."""
    first = Counter(r["reasons"][0].split(":")[0].split(" (")[0].rsplit(" ", 1)[0] for r in rejected)
    return pd.DataFrame(sorted(first.items(), key=lambda kv: -kv[1]), columns=["reason", "conversations"])


def plot_rejections(stats: dict, table: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7, 2.8))
    labels = ["validated", *table["reason"]]
    values = [stats["validated"], *table["conversations"]]
    ax.barh(labels[::-1], values[::-1], color=["tab:red"] * len(table) + ["tab:green"])
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set(xlabel="candidates", title=f"Validation of {stats['candidates']} candidates")
    return fig


def plot_topics(meta: list[dict]):
    frame = pd.DataFrame(meta)
    counts = frame.groupby("topic")["turns"].describe()[["count", "min", "mean", "max"]]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    frame.boxplot(column="turns", by="topic", ax=ax)
    ax.set(title="Turns per mutation topic (validated)", xlabel="", ylabel="turns")
    fig.suptitle("")
    return counts, fig


def similarity_frame(
    synthetic: list[dict], seeds: list[dict], test: list[dict], pool: list[dict], n: int
) -> pd.DataFrame:
    """Nearest-neighbour Jaccard: synthetic->seed, synthetic->test, synthetic->other synthetic, and the
    real baseline pool->other pool conversation (how close two distinct real conversations get)."""
    rows = []
    for name, refs, queries, self_ref in (
        ("synthetic -> seed", seeds, synthetic, False),
        ("synthetic -> test", test, synthetic, False),
        ("synthetic -> synthetic", synthetic, synthetic, True),
        ("real pool -> pool (baseline)", pool, pool, True),
    ):
        index = NearDup(n)
        for r in refs:
            index.add(r["dialogue_id"], dialogue_text(r))
        for q in queries:
            rows.append(
                {
                    "pair": name,
                    "jaccard": index.nearest(dialogue_text(q), q["dialogue_id"] if self_ref else None)[1],
                }
            )
    return pd.DataFrame(rows)


def plot_similarity(frame: pd.DataFrame, cfg: dict):
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, part in frame.groupby("pair"):
        ax.hist(part["jaccard"], bins=40, range=(0, 1), alpha=0.5, density=True, label=name)
    for key, style in (("dup_seed", ":"), ("dup_test", "--"), ("dup_synth", "-.")):
        ax.axvline(cfg[key], color="k", linestyle=style, linewidth=1, label=f"{key} = {cfg[key]}")
    ax.set(
        xlabel=f"nearest-neighbour Jaccard of word {cfg['ngram']}-grams",
        ylabel="density",
        title="How close synthetic conversations come to seeds, test and each other",
    )
    ax.legend(fontsize=7)
    return fig


def judge_calibration(pool: list[dict], min_judge: int) -> dict:
    """The rules judge on real SGD training traces: what share it would keep (should be high)."""
    scores = Counter(judge_conversation(r)[0] for r in pool)
    kept = sum(v for s, v in scores.items() if s >= min_judge)
    return {"scores": dict(sorted(scores.items())), "kept_share": round(kept / max(1, len(pool)), 3)}
