"""Notebook 04's grounding, leakage and flow-coverage tables (tft_utils/synth/report.py), on the real
test set and on conversations the rules teacher writes from the five S4 seeds."""

import matplotlib
import pytest

from tft_utils.core.io import read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.resources import resource
from tft_utils.synth.flow import simulate
from tft_utils.synth.report import (
    candidate_rows,
    flow_table,
    grounding_failures,
    grounding_table,
    leakage_summary,
    plot_coverage,
    tool_call_table,
    topic_turn_table,
    uncovered_flows,
)
from tft_utils.synth.rules import Bank

matplotlib.use("Agg")
TOPICS = load_params("cpu")["synth"]["topics"]


@pytest.fixture(scope="module")
def synthetic(dataset_dir):
    """40 conversations of the rules teacher (10 per topic) from the S4 seeds, with their meta."""
    ids = resource("s4_low_data_dialogue_ids.txt").read_text().split()
    pool = {r["dialogue_id"]: r for r in read_jsonl(dataset_dir / "train_pool.jsonl")}
    bank = Bank.from_seeds([pool[i] for i in ids])
    rows, meta = [], []
    for topic, t in sorted(TOPICS.items()):
        for k in range(10):
            did = f"synth/{topic}/{k}"
            msgs, m = simulate(
                bank, topic, (t["min_turns"], t["max_turns"]), f"r:{topic}:{k}", sorted(bank.cuisines), did
            )
            rows.append({"dialogue_id": did, "messages": msgs})
            meta.append({"dialogue_id": did, **m})
    return rows, meta


def test_grounding_table_counts_passes_and_kinds(test_set, synthetic):
    table = grounding_table({"test": test_set, "synthetic": synthetic[0]})
    assert table.loc["test", "conversations"] == 34 and table.loc["test", "passed"] == 32
    assert table.loc["test", "reply_fact"] == 2 and table.loc["test", "pass_rate"] == round(32 / 34, 4)
    assert table.loc["synthetic", "passed"] >= 38  # the rules teacher, before any filtering
    kinds = ["call_value", "reply_entity", "reply_fact", "unconfirmed_booking", "offer_details"]
    assert (table[kinds].sum(axis=1) == table["conversations"] - table["passed"]).all()


def test_grounding_failures_show_where_and_what(test_set):
    failures = grounding_failures(test_set, k=5)
    assert list(failures["dialogue_id"]) == ["2_00030", "43_00009"]
    row = failures.iloc[1]
    assert row["error_type"] == "grounding:reply_fact" and "alcohol" in row["text"]
    assert grounding_failures(test_set, k=1).shape[0] == 1


def test_flow_coverage_tables_and_figure(test_set, synthetic):
    rows, meta = synthetic
    table = flow_table({"test": test_set, "synthetic": rows})
    assert table.loc["conversations", "test"] == 34 and table.loc["search_then_reserve", "test"] == round(
        24 / 34, 3
    )
    assert uncovered_flows(table) == []  # the rules teacher writes every flow the test set shows

    def first_call(r):
        return next(n for n in _names(r) if n != "respond_to_user")

    searched_first = [r for r in rows if first_call(r) == "FindRestaurants"]
    assert 0 < len(searched_first) < len(rows)
    gap = flow_table({"test": test_set, "synthetic": searched_first})
    assert "reserve_without_search" in uncovered_flows(gap)  # a gap is named
    tools = tool_call_table({"test": test_set, "synthetic": rows})
    n_find = sum(
        m["tool_calls"][0]["function"]["name"] == "FindRestaurants"
        for r in test_set
        for m in r["messages"]
        if m["role"] == "assistant"
    )
    assert tools.loc["test", "FindRestaurants per conversation"] == round(n_find / 34, 2)
    shares = [c for c in tools.columns if c.endswith("share")]
    assert (tools[shares].sum(axis=1).round(2) == 1.0).all()
    turns = topic_turn_table(meta, test_set, TOPICS)
    assert turns["synthetic"].sum() == 40 and (turns["synthetic"] == 10).all()
    assert turns.loc["long", "test in window"] == sum(21 <= t <= 29 for t in _turns(test_set))
    fig = plot_coverage(table, tools, meta, test_set)
    assert len(fig.axes) == 3


def _names(row):
    return [m["tool_calls"][0]["function"]["name"] for m in row["messages"] if m["role"] == "assistant"]


def _turns(rows):
    from tft_utils.synth.validate import turns

    return [turns(r) for r in rows]


def test_candidates_and_leakage_are_read_from_a_synthesis_run(tmp_path, synthetic):
    rows, _ = synthetic
    write_jsonl(
        tmp_path / "candidates.jsonl",
        [
            {"index": 0, "row": rows[0]},
            {"index": 1, "error": "parse: no JSON object"},
            {"index": 2, "row": rows[1]},
        ],
    )
    assert candidate_rows(tmp_path) == rows[:2] and candidate_rows(tmp_path / "none") == []
    # the teacher writes whole batches; validation may stop before the last: only what it examined counts
    (tmp_path / "synth_stats.json").write_text('{"candidates": 2}')
    assert candidate_rows(tmp_path) == rows[:1]
    stats = {
        "leakage": {"test_near_duplicates_dropped": 3, "threshold": 0.4, "dropped": []},
        "max_jaccard": {"test": 0.21},
        "leakage_check": "data/test.jsonl",
    }
    summary = leakage_summary(stats)
    assert summary["test_near_duplicates_dropped"] == 3 and summary["threshold (jaccard)"] == 0.4
