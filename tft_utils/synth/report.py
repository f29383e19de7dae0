"""Tables and figures for notebook 04 (synthesize and validate): lengths against the test set,
topics, rejection reasons, nearest-neighbour similarity against a real-data baseline, grounding
pass rates (real traces, test set, the teacher's candidates before validation), leakage, and flow
coverage (flows, turns per topic, tool calls) of synthetic against real conversations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tft_utils.core.io import iter_jsonl, read_json
from tft_utils.core.paths import shown
from tft_utils.data.figures import conversation_text
from tft_utils.domain.tools import TOOLS
from tft_utils.synth.coverage import FLOWS, flows, tool_counts
from tft_utils.synth.grounding import ERROR_TYPES, check_grounding
from tft_utils.synth.validate import NearDup, dialogue_text, judge_conversation, turns


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
    if not meta:  # no conversation passed validation (e.g. an endpoint teacher that wrote none): say so
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.text(0.5, 0.5, "no validated synthetic conversation", ha="center", va="center")
        ax.set_axis_off()
        return pd.DataFrame(columns=["count", "min", "mean", "max"]), fig
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


# ---------------------------------------------------------------- grounding (STUDY §4.4)


def candidate_rows(out: str | Path) -> list[dict]:
    """What the teacher wrote, before validation: the parsed conversations of OUT/candidates.jsonl that
    validation examined (the teacher writes whole batches: S1 wrote 512, validation stopped at the 501st, the
    500th that passed; synth_stats.json's `candidates`)."""
    path = Path(out) / "candidates.jsonl"
    if not path.exists():
        return []
    records = list(iter_jsonl(path))
    stats = Path(out) / "synth_stats.json"
    if stats.exists():
        records = records[: read_json(stats)["candidates"]]
    return [rec["row"] for rec in records if rec.get("row")]


def grounding_table(named: dict[str, list[dict]]) -> pd.DataFrame:
    """Per set of conversations: how many pass the grounding check, and the failures by kind
    (the first problem of each failing conversation)."""
    rows = []
    for name, convs in named.items():
        verdicts = [check_grounding(r) for r in convs]
        kinds = Counter(g.error_type for g in verdicts if not g.valid)
        passed = sum(g.valid for g in verdicts)
        rows.append(
            {
                "set": name,
                "conversations": len(convs),
                "passed": passed,
                "pass_rate": round(passed / max(1, len(convs)), 4),
                **{k.split(":", 1)[1]: kinds.get(k, 0) for k in ERROR_TYPES},
            }
        )
    return pd.DataFrame(rows).set_index("set")


def grounding_failures(rows: list[dict], k: int = 5) -> pd.DataFrame:
    """The first k conversations that fail the check: what failed, where, and the message's text."""
    out = []
    for r in rows:
        g = check_grounding(r)
        if g.valid:
            continue
        m = r["messages"][g.turn]
        fn = (m.get("tool_calls") or [{}])[0].get("function", {})
        out.append(
            {
                "dialogue_id": r.get("dialogue_id"),
                "error_type": g.error_type,
                "turn": g.turn,
                "problem": g.message,
                "text": fn.get("arguments") if fn else m.get("content"),
                "problems": len(g.problems),
            }
        )
        if len(out) >= k:
            break
    return pd.DataFrame(out, columns=["dialogue_id", "error_type", "turn", "problem", "text", "problems"])


def topic_examples(synthetic: list[dict], meta: list[dict], topics) -> str:
    """The first validated conversation of each mutation topic, as readable text (`data.figures.conversation_text`)."""
    by_id = {r["dialogue_id"]: r for r in synthetic}
    blocks = []
    for topic in sorted(topics):
        first = next(
            (m["dialogue_id"] for m in meta if m["topic"] == topic and m["dialogue_id"] in by_id), None
        )
        if first:
            blocks.append(f"--- {topic}: {first}\n{conversation_text(by_id[first])}")
    return "\n".join(blocks)


def leakage_summary(stats: dict) -> dict:
    """Near-duplicates of test conversations met among the candidates and dropped (STUDY §8)."""
    leak = stats.get("leakage", {})
    return {
        "test_near_duplicates_dropped": leak.get("test_near_duplicates_dropped", 0),
        "threshold (jaccard)": leak.get("threshold"),
        "closest validated conversation to the test set (jaccard)": stats.get("max_jaccard", {}).get("test"),
        "checked against": stats.get("leakage_check") and shown(stats["leakage_check"]),
    }


# ---------------------------------------------------------------- flow coverage


def flow_table(named: dict[str, list[dict]]) -> pd.DataFrame:
    """Share of conversations showing each flow (tft_utils/synth/coverage.py), one column per set; a
    conversation may show several flows. The last row is the number of conversations."""
    cols = {}
    for name, convs in named.items():
        counts = Counter(f for r in convs for f in flows(r))
        cols[name] = [round(counts[f] / max(1, len(convs)), 3) for f in FLOWS] + [len(convs)]
    return pd.DataFrame(cols, index=[*FLOWS, "conversations"])


def uncovered_flows(table: pd.DataFrame, reference: str = "test", other: str = "synthetic") -> list[str]:
    """Flows the reference set shows that the other set never does (coverage gaps)."""
    flows_only = table.drop(index="conversations")
    return [f for f in flows_only.index if flows_only.at[f, reference] > 0 and flows_only.at[f, other] == 0]


def tool_call_table(named: dict[str, list[dict]]) -> pd.DataFrame:
    """Mean calls per conversation of each tool, and each tool's share of all calls, per set."""
    rows = []
    for name, convs in named.items():
        total = Counter()
        for r in convs:
            total.update(tool_counts(r))
        n, calls = max(1, len(convs)), max(1, sum(total[t] for t in TOOLS))
        rows.append(
            {
                "set": name,
                **{f"{t} per conversation": round(total[t] / n, 2) for t in TOOLS},
                **{f"{t} share": round(total[t] / calls, 3) for t in TOOLS},
            }
        )
    return pd.DataFrame(rows).set_index("set")


def topic_turn_table(meta: list[dict], test: list[dict], topics: dict) -> pd.DataFrame:
    """Per mutation topic: the synthetic conversations' turns, and how many test conversations fall
    in that topic's turn window (windows overlap: a test conversation may count in two)."""
    frame = pd.DataFrame(meta)
    test_turns = [turns(r) for r in test]
    rows = []
    for topic, t in sorted(topics.items(), key=lambda kv: kv[1]["min_turns"]):
        part = frame[frame["topic"] == topic]["turns"] if len(frame) else pd.Series(dtype=float)
        inside = sum(t["min_turns"] <= x <= t["max_turns"] for x in test_turns)
        rows.append(
            {
                "topic": topic,
                "window": f"{t['min_turns']}-{t['max_turns']}",
                "weight": t["weight"],
                "synthetic": len(part),
                "synthetic share": round(len(part) / max(1, len(frame)), 3),
                "turns min": part.min() if len(part) else None,
                "turns median": part.median() if len(part) else None,
                "turns max": part.max() if len(part) else None,
                "test in window": inside,
                "test share in window": round(inside / max(1, len(test)), 3),
            }
        )
    return pd.DataFrame(rows).set_index("topic")


def plot_coverage(flow_tab: pd.DataFrame, tool_tab: pd.DataFrame, meta: list[dict], test: list[dict]):
    """Three panels: share of conversations per flow, per set; turns per mutation topic (synthetic)
    beside the test set's turns; calls per conversation of each tool, per set."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    shares = flow_tab.drop(index="conversations")
    shares.plot.barh(ax=axes[0])
    axes[0].invert_yaxis()
    axes[0].set(xlabel="share of conversations", title="Flows")
    axes[0].legend(fontsize=7)
    frame = pd.DataFrame(meta)
    groups = {t: list(part["turns"]) for t, part in frame.groupby("topic")} if len(frame) else {}
    order = sorted(groups, key=lambda t: (sorted(groups[t])[len(groups[t]) // 2], t))  # by median length
    labels = [*order, "test (all)"]
    axes[1].boxplot([groups[t] for t in order] + [[turns(r) for r in test]])
    axes[1].set_xticks(range(1, len(labels) + 1), labels, rotation=20, fontsize=8)
    axes[1].set(ylabel="turns", title="Turns per mutation topic (synthetic) and test")
    per_conv = tool_tab[[c for c in tool_tab.columns if c.endswith("per conversation")]]
    per_conv.columns = [c.replace(" per conversation", "") for c in per_conv.columns]
    per_conv.T.plot.bar(ax=axes[2], rot=0)
    axes[2].set(ylabel="calls per conversation", title="Tool calls")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig
