"""Figures and readable views for notebooks 01 and 02 (data and scenarios)."""

from __future__ import annotations

import json
import textwrap
from collections import Counter

import matplotlib.pyplot as plt
import pandas as pd

from tft_utils.domain.calls import call_of
from tft_utils.domain.tools import RESPOND


def conversation_text(trace_or_messages, width: int = 110, mark: int | None = None) -> str:
    """A conversation as readable lines: `USER:`, `CALL name(args)`, `RESULTS n`, `ASSISTANT:`. Text longer than
    `width` wraps onto indented lines (a call's arguments are what a reader compares: never cut)."""
    messages = trace_or_messages.get("messages") if isinstance(trace_or_messages, dict) else trace_or_messages
    lines = []
    for i, m in enumerate(messages):
        prefix = ">> " if i == mark else "   "
        if m.get("role") == "assistant" and m.get("tool_calls"):
            name, args = call_of(m)
            text = (
                f"ASSISTANT: {args.get('message', '')}"
                if name == RESPOND
                else f"CALL {name}({json.dumps(args)})"
            )
        elif (m.get("content") or "").startswith("[{") or m.get("content") == "[]":
            try:
                text = f"RESULTS: {len(json.loads(m['content']))} item(s)"
            except json.JSONDecodeError:
                text = f"USER: {m['content']}"
        else:
            text = f"USER: {m.get('content')}"
        lines.append(
            textwrap.fill(f"{prefix}{i:>2} {text}", width, subsequent_indent=" " * 6, break_long_words=False)
        )
    return "\n".join(lines)


def length_table(named_traces: dict) -> pd.DataFrame:
    """One row per trace: set, messages, assistant turns."""
    rows = []
    for name, traces in named_traces.items():
        for t in traces:
            rows.append(
                {
                    "set": name,
                    "messages": len(t["messages"]),
                    "assistant_turns": sum(m.get("role") == "assistant" for m in t["messages"]),
                }
            )
    return pd.DataFrame(rows)


def plot_lengths(named_traces: dict):
    df = length_table(named_traces)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, col in zip(axes, ("messages", "assistant_turns"), strict=True):
        for name, sub in df.groupby("set", sort=False):
            ax.hist(
                sub[col],
                bins=range(0, int(df[col].max()) + 3, 2),
                alpha=0.55,
                density=True,
                label=f"{name} (n={len(sub)}, mean {sub[col].mean():.1f})",
            )
        ax.set_xlabel(col.replace("_", " ") + " per conversation")
        ax.set_ylabel("share of conversations")
        ax.legend()
    fig.tight_layout()
    return fig


def call_counts(named_traces: dict) -> pd.DataFrame:
    rows = {
        name: Counter(call_of(m)[0] for t in traces for m in t["messages"] if m.get("role") == "assistant")
        for name, traces in named_traces.items()
    }
    return pd.DataFrame(rows).fillna(0).astype(int)


def plot_calls(named_traces: dict):
    counts = call_counts(named_traces)
    share = counts / counts.sum()
    ax = share.plot.barh(figsize=(8, 0.5 + 0.45 * len(share)), title="assistant calls by function (share)")
    ax.set_xlabel("share of assistant calls")
    ax.figure.tight_layout()
    return ax.figure


def corruption_table(rows: list[dict], n_calls: int, n_traces: int) -> pd.DataFrame:
    """Per corruption kind: rows, distinct calls and traces touched, share of all calls."""
    if not rows:
        return pd.DataFrame(columns=["kind", "calls", "traces", "share_of_calls"])
    df = pd.DataFrame(rows)
    out = df.groupby("kind").agg(calls=("turn", lambda s: s.notna().sum()), traces=("dialogue_id", "nunique"))
    out["share_of_calls"] = (out["calls"] / n_calls).round(3)
    out["share_of_traces"] = (out["traces"] / n_traces).round(3)
    return out.sort_values("calls", ascending=False).reset_index()


def plot_corruptions(table: pd.DataFrame, scenario: str):
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.5 * max(1, len(table))))
    if len(table):
        table.set_index("kind")[["calls", "traces"]].plot.barh(ax=ax)
    else:
        ax.text(0.5, 0.5, "no corruption in this scenario", ha="center", va="center")
    ax.set_title(f"{scenario.upper()}: what the noise touched")
    fig.tight_layout()
    return fig


def _short(value) -> str:
    """A call as name(key=value, ...) (a reply's message cut at 80 characters); anything else as JSON."""
    if isinstance(value, dict) and "name" in value:
        args = value.get("arguments", value.get("parameters")) or {}
        if "message" in args and isinstance(args["message"], str) and len(args["message"]) > 80:
            args = {**args, "message": args["message"][:80] + "..."}
        return f"{value['name']}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
    return json.dumps(value, ensure_ascii=False)


def corruption_examples(rows: list[dict], per_kind: int = 2) -> pd.DataFrame:
    """A few before -> after changes per kind, as short strings."""
    picked = []
    for kind in sorted({r["kind"] for r in rows}):
        for r in [r for r in rows if r["kind"] == kind][:per_kind]:
            picked.append(
                {
                    "kind": kind,
                    "dialogue_id": r["dialogue_id"],
                    "turn": r["turn"],
                    "before": _short(r["before"]),
                    "after": _short(r["after"]),
                }
            )
    return pd.DataFrame(picked)
