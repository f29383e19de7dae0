"""Flows of real conversations (tft_utils/synth/coverage.py), read from their calls, results and words."""

import copy
import json

from tft_utils.synth.coverage import FLOWS, flows, tool_counts


def names(row):
    return [m["tool_calls"][0]["function"]["name"] for m in row["messages"] if m["role"] == "assistant"]


def test_the_test_sets_flows(test_set):
    counts = {f: sum(f in flows(r) for r in test_set) for f in FLOWS}
    assert counts == {
        "search_only": 0,  # every R1 test conversation ends with a reservation
        "search_then_reserve": 24,
        "several_searches": 3,
        "reserve_without_search": 10,
        "user_declines": 9,
        "no_results": 0,
        "booking_fails": 9,
    }


def test_flows_follow_the_calls(pool):
    for r in pool:
        calls = [n for n in names(r) if n != "respond_to_user"]
        f = flows(r)
        assert ("several_searches" in f) == (calls.count("FindRestaurants") >= 2)
        assert ("reserve_without_search" in f) == (
            "ReserveRestaurant" in calls
            and "FindRestaurants" not in calls[: calls.index("ReserveRestaurant")]
        )
        assert ("search_then_reserve" in f) or "FindRestaurants" not in calls or "reserve_without_search" in f
        assert tool_counts(r) == {n: names(r).count(n) for n in set(names(r))}


def test_search_only_no_results_and_a_failed_booking(pool):
    row = next(r for r in pool if names(r).count("FindRestaurants") == 1 and "ReserveRestaurant" in names(r))
    k = next(
        i
        for i, m in enumerate(row["messages"])
        if m["role"] == "assistant" and "Find" in json.dumps(m["tool_calls"])
    )
    cut = {**row, "messages": row["messages"][: k + 3]}  # the search, its results, the reply
    assert "search_only" in flows(cut) and "search_then_reserve" not in flows(cut)
    empty = copy.deepcopy(cut)
    empty["messages"][k + 1]["content"] = "[]"
    assert "no_results" in flows(empty) and "no_results" not in flows(cut)
    failed = next(r for r in pool if "booking_fails" in flows(r))
    assert "ReserveRestaurant" in names(failed)


def test_a_no_to_an_offer_is_a_decline_a_no_to_anything_else_is_not():
    def conv(reply, answer):
        return {
            "messages": [
                {"role": "user", "content": "Find me a place in Napa."},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"function": {"name": "respond_to_user", "arguments": json.dumps({"message": reply})}}
                    ],
                },
                {"role": "user", "content": answer},
            ]
        }

    assert "user_declines" in flows(conv("Please confirm: a table for 2 at 7 pm.", "No, make it 8 pm."))
    assert "user_declines" in flows(conv("How about Bistro Don Giovanni?", "I don't like that place."))
    assert "user_declines" not in flows(conv("Can I help with anything else?", "No, thank you."))
    assert "user_declines" not in flows(conv("Please confirm: a table for 2 at 7 pm.", "Yes, please."))
