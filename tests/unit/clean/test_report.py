"""03's report helpers on hand-made rows: what a reader sees must match what the pipeline recorded."""

import math

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from tft_utils.clean.report import mapping_table, per_kind, plot_scores  # noqa: E402


def test_each_mapping_shows_the_evidence_recorded_under_its_foreign_name():
    # the aligner keys its evidence by the foreign name (align.jsonl); the table looked it up by the target's
    rows = [
        {
            "renamed": {"LookForRestaurants": "FindRestaurants", "location": "city"},
            "dropped_keys": ["rating"],
            "evidence": {
                "LookForRestaurants": "-> FindRestaurants: FindRestaurants 0.58",
                "location": "-> city: name 0.73, values 1.00 (23 seen)",
                "rating": "no target slot fits (dropped)",
            },
        }
    ]
    table = mapping_table(rows).set_index("foreign")
    assert table.loc["location", "evidence"].startswith("-> city")
    assert table.loc["LookForRestaurants", "evidence"].startswith("-> FindRestaurants")
    assert table.loc["rating", "target"] == "(dropped)" and table.loc["rating", "evidence"].startswith(
        "no target"
    )


def test_a_clean_turn_has_no_caught_share():
    df = pd.DataFrame(
        {
            "kind": ["clean", "clean", "swap_tool", "swap_tool"],
            "trace_kept": [True, False, True, False],
            "masked": [False, False, True, False],
            "call_ok": [True, True, False, False],
        }
    )
    t = per_kind(df)
    assert math.isnan(t.loc["clean", "caught_share"]) and t.loc["clean", "dropped"] == 1
    assert t.loc["swap_tool", "caught_share"] == 1.0  # masked one, dropped the other


def test_both_score_panels_stack_the_groups_in_one_order_and_colour():
    # relevance and coherence see the (group, outcome) pairs in different orders; one legend must read for both
    dist = pd.DataFrame(
        {
            "relevance": [5, 5, 4, 1],
            "coherence": [1, 2, 5, 5],
            "kept": [True, False, True, True],
            "group": ["corrupted", "corrupted", "clean", "corrupted"],
        }
    )
    fig = plot_scores(dist)
    colours = [[tuple(c.patches[0].get_facecolor()) for c in ax.containers] for ax in fig.axes]
    assert colours[0] == colours[1] and len(set(colours[0])) == 3
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "clean, kept",
        "corrupted, dropped",
        "corrupted, kept",
    ]
