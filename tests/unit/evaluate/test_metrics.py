"""Tool-call parsing and the deterministic metrics of STUDY §6, pinned on hand-written cases."""

import json

import pytest
from rouge_score import rouge_scorer

from tft_utils.domain.calls import ToolCall, parse_tool_call
from tft_utils.evaluate.metrics import METRICS, evaluate_pair, lcs_length

GOLD = '{"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Italian"}}'
CALL = ToolCall("FindRestaurants", {"city": "San Jose", "cuisine": "Italian"})


@pytest.mark.parametrize(
    "text",
    [
        GOLD,
        '<tool_call>{"name": "FindRestaurants", "arguments": {"city": "San Jose", "cuisine": "Italian"}}</tool_call>',
        '<tool_call>{"name": "FindRestaurants", "arguments": "{\\"city\\": \\"San Jose\\", \\"cuisine\\": \\"Italian\\"}"}</tool_call>',
        'Sure! ```json\n{"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Italian"}}\n``` done',
        'I will search. {"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Italian"}} ok?',
        '{"type": "function", "function": {"name": "FindRestaurants", "arguments": "{\\"city\\": \\"San Jose\\", \\"cuisine\\": \\"Italian\\"}"}}',
        '<tool_call>\n{"name": "FindRestaurants", "arguments": {"city": "San Jose", "cuisine": "Italian"}}',  # unclosed tag
        {"name": "FindRestaurants", "parameters": {"city": "San Jose", "cuisine": "Italian"}},
    ],
)
def test_parse_accepts_every_documented_form(text):
    assert parse_tool_call(text) == CALL


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "I found 3 restaurants",
        '{"name": ""}',
        '{"parameters": {}}',
        '{"name": "x", "arguments": "{bad"}',
        '{"name": "x", "parameters": [1, 2]}',
        "[1, 2, 3]",
        "<tool_call>not json</tool_call>",
        42,
    ],
)
def test_parse_returns_none_for_anything_else(text):
    assert parse_tool_call(text) is None


def test_missing_arguments_mean_no_parameters():
    assert parse_tool_call('{"name": "respond_to_user"}') == ToolCall("respond_to_user", {})


def _scores(pred):
    return {m: c.score for m, c in evaluate_pair(GOLD, pred).items()}


@pytest.mark.parametrize(
    "pred, staged, error",
    [
        ("no call here", 0.0, "turn:unparseable"),
        ('{"name": "ReserveRestaurant", "parameters": {"city": "San Jose"}}', 0.25, "turn:wrong_tool"),
        ('{"name": "FindRestaurants", "parameters": {"city": "San Jose"}}', 0.5, "turn:wrong_param_keys"),
        (
            '{"name": "FindRestaurants", "parameters": {"city": "Oakland", "cuisine": "Italian"}}',
            0.75,
            "turn:wrong_param_value",
        ),
        ('{"name": "FindRestaurants", "parameters": {"cuisine": "Italian", "city": "San Jose"}}', 1.0, None),
    ],
)
def test_staged_tool_call_ladder(pred, staged, error):
    checks = evaluate_pair(GOLD, pred)
    assert checks["staged_tool_call"].score == staged
    assert checks["staged_tool_call"].error_type == error
    assert checks["staged_tool_call"].valid == (staged == 1.0)
    assert checks["binary_tool_call"].score == (1.0 if staged == 1.0 else 0.0)


def test_binary_is_exact_equivalence_normalises_type_whitespace_case():
    gold = '{"name": "ReserveRestaurant", "parameters": {"party_size": "2", "city": "San Jose", "time": "18:00"}}'
    pred = '{"name": "ReserveRestaurant", "parameters": {"party_size": 2, "city": " san  jose", "time": "18:00"}}'
    checks = evaluate_pair(gold, pred)
    assert checks["binary_tool_call"].score == 0.0
    assert checks["staged_tool_call"].score == 0.75
    assert checks["tool_call_equivalence"].score == 1.0
    other = (
        '{"name": "ReserveRestaurant", "parameters": {"party_size": 3, "city": "San Jose", "time": "18:00"}}'
    )
    assert evaluate_pair(gold, other)["tool_call_equivalence"].error_type == "turn:wrong_param_value"


def test_rouge_l_matches_rouge_score_with_porter_stemming():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    gold = '{"name": "respond_to_user", "parameters": {"message": "What city are you looking in?"}}'
    for pred in [
        '{"name": "respond_to_user", "parameters": {"message": "Which cities are you looking at?"}}',
        "<tool_call>searching restaurants</tool_call>",
        GOLD,
    ]:
        expected = scorer.score(gold, pred)["rougeL"].fmeasure
        assert evaluate_pair(gold, pred)["rouge_l"].score == pytest.approx(expected, abs=1e-12)
    assert evaluate_pair(gold, "")["rouge_l"].score == 0.0
    assert evaluate_pair(gold, None)["rouge_l"].score == 0.0


def test_lcs_length_pinned():
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4
    assert lcs_length([], ["a"]) == 0
    assert lcs_length(["a", "b"], ["a", "b"]) == 2


def test_gold_scores_one_on_every_metric(shared_dir):
    rows = [json.loads(line) for line in (shared_dir / "benchmark" / "published_test.jsonl").open()]
    for row in rows:
        assert {m: c.score for m, c in evaluate_pair(row["answer"], row["answer"]).items()} == dict.fromkeys(
            METRICS, 1.0
        )


def test_dict_prediction_is_scored_like_its_json():
    assert _scores(json.loads(GOLD)) == dict.fromkeys(METRICS, 1.0)


def test_answer_must_be_a_call():
    with pytest.raises(ValueError):
        evaluate_pair("not a call", GOLD)
