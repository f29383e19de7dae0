"""The rubric judge, one test per rule, each with cases it must judge good and cases it must judge bad;
the LLM judge's strict verdict parsing (its server path is tested in test_score.py)."""

import json

import pytest

from tft_utils.core.io import read_jsonl
from tft_utils.domain.replies import build_context, judge_reply
from tft_utils.evaluate.judge.llm import PROMPT_VERSION, judge_request, parse_verdict
from tft_utils.evaluate.judge.rubric import rubric_judge

MIMIS = {
    "city": "San Jose",
    "cuisine": "Italian",
    "has_live_music": "False",
    "phone_number": "408-286-7500",
    "price_range": "moderate",
    "restaurant_name": "Mimi's Cafe",
    "serves_alcohol": "True",
    "street_address": "1175 Saratoga Avenue",
}
FORNAIO = {
    "city": "San Jose",
    "cuisine": "Italian",
    "has_live_music": "True",
    "phone_number": "408-271-3366",
    "price_range": "expensive",
    "restaurant_name": "Il Fornaio",
    "serves_alcohol": "True",
    "street_address": "302 South Market Street",
}


def call(name, **params):
    return json.dumps({"name": name, "parameters": params})


def say(message):
    return call("respond_to_user", message=message)


def assistant(name, **args):
    return {
        "role": "assistant",
        "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": args}}],
    }


def user(text):
    return {"role": "user", "content": text}


def results(rows):
    return user(json.dumps(rows))


SEARCH = [
    user("I want Italian food in San Jose."),
    assistant("FindRestaurants", city="San Jose", cuisine="Italian"),
    results([MIMIS, FORNAIO]),
    assistant("respond_to_user", message="I found 2 restaurants. How about Mimi's Cafe?"),
]


def booking(result):
    """Search, then a confirmed booking at Mimi's Cafe tomorrow 6 pm for 2, with `result`."""
    args = {
        "restaurant_name": "Mimi's Cafe",
        "city": "San Jose",
        "time": "18:00",
        "date": "2019-03-02",
        "party_size": "2",
    }
    return SEARCH + [
        user("Book a table there tomorrow at 6 pm for two."),
        assistant(
            "respond_to_user", message="Please confirm: a table for 2 at Mimi's Cafe tomorrow at 6 pm."
        ),
        user("Yes please."),
        assistant("ReserveRestaurant", **args),
        results([{**MIMIS, **args}] if result else []),
    ]


def good(question, gold, pred):
    return rubric_judge(question, gold, pred).good


def reply_ok(question, message, gold_message="Is there anything else I can help with?"):
    return judge_reply(message, build_context(question), gold_message).good


# --------------------------------------------------------------------------- rule 1: the function


def test_a_different_function_or_no_call_is_bad():
    gold = say("What city?")
    assert not good(SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine="Italian"))
    assert not good(SEARCH[:1], gold, "I think you want Italian food")
    assert not good(SEARCH[:1], gold, None)
    assert good(SEARCH[:1], gold, say("Which city should I look in?"))


def test_the_gold_call_itself_is_good_even_with_formatting_differences():
    gold = call("ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time="18:00")
    assert good(SEARCH, gold, gold)
    assert good(
        SEARCH,
        gold,
        '<tool_call>{"name": "ReserveRestaurant", "arguments": {"time": "18:00", '
        '"city": "san jose", "restaurant_name": "Mimi\'s Cafe"}}</tool_call>',
    )


# --------------------------------------------------------------------------- rule 2: service calls


@pytest.mark.parametrize(
    "pred, ok",
    [
        ("Sushi", True),
        ("japanese food", True),
        ("Ramen", True),
        ("Izakaya", True),
        ("Italian", False),
        ("Chinese", False),
    ],
)
def test_cuisine_synonyms_and_subcategories(pred, ok):
    gold = call("FindRestaurants", city="San Jose", cuisine="Japanese")
    assert good(SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine=pred)) is ok


@pytest.mark.parametrize(
    "gold_c, pred_c, ok",
    [
        ("Italian", "pizza and pasta", True),
        ("Chinese", "Szechuan", True),
        ("Seafood", "fish", True),
        ("Indian", "curry", True),
        ("Mexican", "Indian", False),
        ("American", "Burgers", True),
    ],
)
def test_cuisine_map_from_sgd_values(gold_c, pred_c, ok):
    gold = call("FindRestaurants", city="Oakland", cuisine=gold_c)
    assert good([user("food please")], gold, call("FindRestaurants", city="Oakland", cuisine=pred_c)) is ok


@pytest.mark.parametrize(
    "pred, ok",
    [
        ("SF", True),
        ("san francisco, CA", True),
        ("San Francisco", True),
        ("South San Francisco", False),
        ("Oakland", False),
    ],
)
def test_city_forms_and_wrong_city(pred, ok):
    gold = call("FindRestaurants", city="San Francisco", cuisine="Thai")
    assert good([user("Thai in SF")], gold, call("FindRestaurants", city=pred, cuisine="Thai")) is ok


@pytest.mark.parametrize(
    "pred, ok",
    [("mimis cafe", True), ("Mimi's Cafe", True), ("Il Fornaio", False), ("Mimi's", True), ("Cafe", False)],
)
def test_restaurant_name_forms_and_wrong_restaurant(pred, ok):
    gold = call("ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time="18:00")
    assert (
        good(SEARCH, gold, call("ReserveRestaurant", restaurant_name=pred, city="San Jose", time="18:00"))
        is ok
    )


@pytest.mark.parametrize(
    "pred, ok",
    [
        ("tomorrow", True),
        ("March 2nd", True),
        ("2nd of March", True),
        ("the 2nd", True),
        ("2019-03-02", True),
        ("Saturday", True),
        ("3/2", True),
        ("today", False),
        ("2019-03-03", False),
        ("March 5th", False),
        ("Monday", False),
    ],
)
def test_date_forms_relative_to_the_conversation(pred, ok):
    gold = call(
        "ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time="18:00", date="2019-03-02"
    )
    p = call("ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time="18:00", date=pred)
    assert good(SEARCH, gold, p) is ok


def test_the_conversation_date_comes_from_a_booking_the_user_called_today():
    earlier = [
        user("Book Mimi's Cafe today at noon"),
        assistant(
            "ReserveRestaurant",
            restaurant_name="Mimi's Cafe",
            city="San Jose",
            time="12:00",
            date="2019-03-10",
        ),
        results([{**MIMIS, "date": "2019-03-10", "time": "12:00"}]),
    ]
    assert build_context(earlier).today.isoformat() == "2019-03-10"
    gold = call(
        "ReserveRestaurant", restaurant_name="Il Fornaio", city="San Jose", time="18:00", date="2019-03-11"
    )
    tomorrow = call(
        "ReserveRestaurant", restaurant_name="Il Fornaio", city="San Jose", time="18:00", date="tomorrow"
    )
    assert good(earlier, gold, tomorrow)
    assert not good(SEARCH, gold, tomorrow)  # default SGD date 2019-03-01: tomorrow is the 2nd


@pytest.mark.parametrize(
    "pred, ok",
    [
        ("6:30 PM", True),
        ("6:30 pm", True),
        ("18:30", True),
        ("evening 6:30", True),
        ("half past 6 in the evening", True),
        ("6:30", True),
        ("six thirty pm", False),
        ("6:30 am", False),
        ("06:30", False),
        ("19:30", False),
        ("18:00", False),
    ],
)
def test_time_forms(pred, ok):
    gold = call("ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time="18:30")
    assert (
        good(
            SEARCH, gold, call("ReserveRestaurant", restaurant_name="Mimi's Cafe", city="San Jose", time=pred)
        )
        is ok
    )


@pytest.mark.parametrize(
    "pred, ok", [(3, True), ("3", True), ("three", True), ("3 people", True), ("2", False), ("four", False)]
)
def test_party_size_in_words_or_digits(pred, ok):
    base = {"restaurant_name": "Mimi's Cafe", "city": "San Jose", "time": "18:00"}
    gold = call("ReserveRestaurant", **base, party_size="3")
    assert good(SEARCH, gold, call("ReserveRestaurant", **base, party_size=pred)) is ok


def test_optional_parameters_default_unasked_or_invented():
    base = {"restaurant_name": "Mimi's Cafe", "city": "San Jose", "time": "18:00"}
    # left out: fine when the gold value is the tool default (party of 2, today) ...
    assert good(
        SEARCH,
        call("ReserveRestaurant", **base, party_size="2", date="2019-03-01"),
        call("ReserveRestaurant", **base),
    )
    # ... bad when it is what the user asked for
    assert not good(
        SEARCH, call("ReserveRestaurant", **base, party_size="4"), call("ReserveRestaurant", **base)
    )
    asked = [user("Find me a moderately priced Italian place in San Jose.")]
    gold = call("FindRestaurants", city="San Jose", cuisine="Italian", price_range="moderate")
    assert not good(asked, gold, call("FindRestaurants", city="San Jose", cuisine="Italian"))
    # a filter the gold carries but the user never mentioned may be left out
    gold = call("FindRestaurants", city="San Jose", cuisine="Italian", serves_alcohol="True")
    assert good(SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine="Italian"))
    # added: a default value is fine, an invented filter or an unknown parameter is not
    gold = call("FindRestaurants", city="San Jose", cuisine="Italian")
    assert good(
        SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine="Italian", price_range="dontcare")
    )
    assert not good(
        SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine="Italian", price_range="expensive")
    )
    assert not good(
        SEARCH[:1], gold, call("FindRestaurants", city="San Jose", cuisine="Italian", location="downtown")
    )


# --------------------------------------------------------------------------- rule 3: replies


def test_reply_alcohol_must_match_the_result():
    q = SEARCH + [user("Do they serve liquor?")]
    gold = "Yes, they serve alcohol."
    assert reply_ok(q, "Yes, Mimi's Cafe serves alcohol.", gold)
    assert reply_ok(q, "Yes they do.", gold)
    assert not reply_ok(q, "They do not serve alcohol.", gold)
    assert not reply_ok(q, "No, they don't.", gold)


def test_reply_live_music_must_match_the_result():
    q = SEARCH + [user("Is there live music?")]
    gold = "Sorry, no live music there."
    assert reply_ok(q, "They don't have live music.", gold)
    assert reply_ok(
        q, "Il Fornaio has live music, Mimi's Cafe does not.".split(",")[0] + ".", gold
    )  # about Il Fornaio
    assert not reply_ok(q, "Yes, Mimi's Cafe has live music.", gold)


def test_reply_price_range_must_match_the_result():
    q = SEARCH + [user("Is it expensive?")]
    assert reply_ok(q, "It is moderately priced.", "Their prices are moderate.")
    assert not reply_ok(q, "It is an expensive place.", "Their prices are moderate.")
    assert not reply_ok(q, "It is cheap.", "Their prices are moderate.")


def test_reply_address_and_phone_must_match_the_result():
    q = SEARCH + [user("What is their address and phone number?")]
    gold = "1175 Saratoga Avenue, 408-286-7500."
    assert reply_ok(q, "They are at 1175 Saratoga Avenue; call 408-286-7500.", gold)
    assert not reply_ok(q, "They are at 500 Main Street; call 408-286-7500.", gold)
    assert not reply_ok(q, "They are at 1175 Saratoga Avenue; call 408-111-2222.", gold)


def test_reply_must_not_name_a_restaurant_no_result_returned():
    q = SEARCH + [user("Anything else?")]
    gold = "How about Il Fornaio?"
    assert reply_ok(q, "What about Il Fornaio in San Jose?", gold)
    assert not reply_ok(q, "How about The Olive Garden?", gold)
    assert not reply_ok(
        [user("Find me Italian food in San Jose")],
        "Bistro Aix is a nice restaurant in San Jose.",
        "Searching.",
    )


def test_reply_booking_success_or_failure_must_match_the_result():
    ok, failed = booking(True), booking(False)
    assert reply_ok(ok, "Your table is booked.", "Your reservation is confirmed.")
    assert not reply_ok(ok, "Sorry, I could not book the table.", "Your reservation is confirmed.")
    assert reply_ok(failed, "Sorry, the reservation failed. Try another time?", "I could not book it.")
    assert not reply_ok(failed, "Your reservation has been made.", "I could not book it.")
    q = SEARCH + [user("Book Mimi's Cafe at 6 pm for 2.")]
    gold = "Please confirm: a table for 2 at Mimi's Cafe today at 6 pm."
    assert not reply_ok(q, "Your reservation is confirmed.", gold)  # no booking was made
    assert reply_ok(
        q, "Please confirm: a table for 2 at Mimi's Cafe at 6 pm today?", gold
    )  # a request, not a claim


def test_reply_counts_must_match_the_search():
    q = SEARCH[:3]
    gold = "I found 2 restaurants. How about Mimi's Cafe?"
    assert reply_ok(q, "There are 2 restaurants. Mimi's Cafe is a nice one.", gold)
    assert not reply_ok(q, "I found 5 restaurants. How about Mimi's Cafe?", gold)
    assert not reply_ok(q, "Sorry, there are no restaurants like that.", gold)


def test_reply_from_another_domain_is_bad():
    q = SEARCH + [user("Great, thanks.")]
    assert not reply_ok(q, "Your hotel room is booked for two nights.")
    assert reply_ok(q, "Glad to help! Anything else?")


def test_reply_must_not_invent_booking_details():
    q = SEARCH + [user("Book Mimi's Cafe at 6 pm for two.")]
    gold = "Please confirm: a table for 2 at Mimi's Cafe today at 6 pm."
    assert reply_ok(q, "Please confirm: table for two at Mimi's Cafe at 6 pm, today.", gold)
    assert not reply_ok(q, "Please confirm: a table for 2 at Mimi's Cafe today at 7:30 pm.", gold)
    assert not reply_ok(q, "Please confirm: a table for 5 at Mimi's Cafe today at 6 pm.", gold)


def test_reply_must_answer_the_question_the_gold_answers():
    q = SEARCH + [user("What is their phone number?")]
    gold = "Their number is 408-286-7500."
    assert reply_ok(q, "You can reach them at 408-286-7500.", gold)
    assert not reply_ok(q, "What time would you like to book?", gold)


def test_reply_closing_and_opening_at_the_right_time():
    busy = SEARCH + [user("Book it at 6 pm please.")]
    assert not reply_ok(busy, "Have a nice day!", "Please confirm: Mimi's Cafe at 6 pm today for 2.")
    finished = SEARCH + [user("No thanks, that's all.")]
    assert reply_ok(finished, "Have a nice day!", "Have a great day.")
    assert reply_ok(finished, "Is there anything else I can help with?", "Have a great day.")
    assert not reply_ok(finished, "What time would you like the reservation?", "Have a great day.")
    assert not reply_ok(busy, "How can I help you today?", "Please confirm: Mimi's Cafe at 6 pm today for 2.")
    assert reply_ok(booking(True), "Is there anything else I can do for you?", "Your table is booked.")


def test_reply_must_not_repeat_itself_or_reask_what_is_settled():
    q = SEARCH + [user("Sounds good.")]
    gold = "Would you like to reserve a table?"
    assert not reply_ok(q, "I found 2 restaurants. How about Mimi's Cafe?", gold)
    assert not reply_ok(q, "Which city should I search in?", gold)
    assert reply_ok(q, "Shall I book a table there?", gold)


def test_reply_must_be_a_nonempty_message_only():
    gold = say("What city?")
    assert not good(SEARCH[:1], gold, say(""))
    assert not good(SEARCH[:1], gold, call("respond_to_user", message="Which city?", city="San Jose"))
    assert good(SEARCH[:1], gold, say("Which city would you like?"))


# --------------------------------------------------------------------------- real data


def test_every_gold_answer_is_judged_good(dataset_dir):
    rows = [json.loads(line) for line in (dataset_dir / "test_pairs.jsonl").open()]
    assert len(rows) == 360
    assert all(rubric_judge(r["question"], r["answer"], r["answer"]).good for r in rows)


def test_gold_replies_contradict_their_results_only_where_sgd_itself_errs(dataset_dir):
    """Judged as if they were predictions, the gold replies pass every reply rule except two where
    SGD's own system turn contradicts its tool result (documented noise): the same two the grounding
    check finds in the test set, by the same rules (`domain.replies.booking_claim`, `_check_facts`). 4_00009's
    "All set. Just to confirm, I have reservations..." is a confirmation request, not a booking claim."""
    flagged = set()
    for line in (dataset_dir / "test_pairs.jsonl").open():
        r = json.loads(line)
        gold = json.loads(r["answer"])
        if gold["name"] == "respond_to_user":
            msg = gold["parameters"]["message"]
            if not judge_reply(msg, build_context(json.loads(r["question"])), msg).good:
                flagged.add((r["dialogue_id"], r["turn"]))
    assert flagged == {("2_00030", 15), ("43_00009", 19)}
    from tft_utils.synth.grounding import check_grounding

    failing = {
        r["dialogue_id"] for r in read_jsonl(dataset_dir / "test.jsonl") if not check_grounding(r).valid
    }
    assert {d for d, _ in flagged} == failing


# --------------------------------------------------------------------------- LLM judge: strict parsing


@pytest.mark.parametrize(
    "text, verdict",
    [
        ('{"verdict": "good", "reason": "same call"}', True),
        ('```json\n{"verdict": "BAD", "reason": "x"}\n```', False),
        ('Thinking... {"verdict": "bad"}', False),
        ("good", None),
        ('{"verdict": "maybe"}', None),
        ('{"score": 1}', None),
        ("", None),
        (None, None),
        ('{"verdict": true}', None),
    ],
)
def test_llm_verdicts_are_parsed_strictly(text, verdict):
    v = parse_verdict(text)
    assert v.good is verdict
    assert v.reason.startswith("unparseable") == (verdict is None)


def test_llm_request_carries_rubric_conversation_and_both_calls():
    msgs = judge_request(json.dumps(SEARCH), say("What city?"), say("Which city?"))
    assert msgs[0]["role"] == "system" and "contradicts" in msgs[0]["content"]
    assert "ASSISTANT calls FindRestaurants" in msgs[1]["content"] and "Which city?" in msgs[1]["content"]
    assert PROMPT_VERSION.startswith("tft-judge-v")


def test_reply_rules_read_sgd_wordings_right():
    """Found calibrating the grounding check on the 327 real traces: "successfully booked" is not
    "fully booked", "a reservation for 7:30 pm" is a time not a party size, a name's words ("Wine
    Bar") are no claim about alcohol, "1 place" is a count not an address, "afternoon" is not noon."""
    from tft_utils.domain.replies import _reply_claims, street_addresses
    from tft_utils.domain.values import time_options

    assert _reply_claims("Your table was successfully booked.") == "succeeded"
    assert _reply_claims("All booked for you.") == "succeeded"
    assert _reply_claims("Sorry, they are fully booked.") == "failed"
    assert _reply_claims("They're all booked tonight.") == "failed"
    q = booking(True)[:-2] + [user("No, make it 7:30 pm.")]
    assert reply_ok(q, "Please confirm: a reservation for 7:30 pm tomorrow.", "Please confirm: 7:30 pm.")
    assert not reply_ok(q, "Please confirm: a table for 5 tomorrow.", "Please confirm: 7:30 pm.")
    wine = {**MIMIS, "restaurant_name": "Baan Thai House & Wine Bar", "serves_alcohol": "False"}
    q = [
        user("Thai food in San Jose."),
        assistant("FindRestaurants", city="San Jose", cuisine="Thai"),
        results([wine]),
    ]
    assert reply_ok(q, "I found 1 place: Baan Thai House & Wine Bar.", "I found 1 restaurant.")
    assert not reply_ok(q, "Baan Thai House & Wine Bar serves alcohol.", "I found 1 restaurant.")
    assert [m.group(0) for m in street_addresses("I found 1 place called X. It is at 1441 Polk Street.")] == [
        "1441 polk street"
    ]
    assert (
        street_addresses("The phone number is 650-925-6810 The street address is 2 Main Street.")[0].group(1)
        == "2"
    )
    assert time_options("half past 12 in the afternoon") == {750} and time_options("noon") == {720}
