"""The one rendering shared by training and evaluation (tft_utils/train/render.py), on SmolLM2's real tokenizer.

The prefix parity proof: for every assistant turn t of a conversation, the evaluation prompt
`prompt_ids(messages[:t])` is token for token the first `prompt_len` tokens of the training sequence
`conversation_ids(messages)`, and joining the separately tokenized pieces gives the same tokens as
tokenizing the whole text. Checked on hand-written conversations (no data needed) and on every
conversation and test pair of the real test set (`dataset_dir`, skipped without ../shared).
"""

from __future__ import annotations

import json

import pytest

from tft_utils.core.io import DataError, read_jsonl
from tft_utils.domain.calls import call_text
from tft_utils.train.render import TASK_PROMPT, Renderer, fallback_tools_text, tool_signature


def _tool(name: str, description: str, props: dict, required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


TOOLS = [
    _tool(
        "FindRestaurants",
        "Find a restaurant of a particular cuisine in a city",
        {
            "cuisine": {"type": "string"},
            "city": {"type": "string"},
            "price_range": {"type": "string", "enum": ["inexpensive", "moderate", "expensive"]},
        },
        ["cuisine", "city"],
    ),
    _tool(
        "ReserveRestaurant",
        "Reserve a table at a restaurant",
        {
            "restaurant_name": {"type": "string"},
            "city": {"type": "string"},
            "time": {"type": "string"},
            "party_size": {"type": "string", "enum": ["1", "2", "3", "4"]},
        },
        ["restaurant_name", "city", "time"],
    ),
    _tool("respond_to_user", "Send a message to the user", {"message": {"type": "string"}}, ["message"]),
]


def _call(name: str, args, cid: str = "call_0") -> dict:
    return {
        "role": "assistant",
        "tool_calls": [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}],
    }


# Every form a trace may take: a system message (replaced by ours), arguments as a JSON string and
# as an object, an assistant message with text content only (read as respond_to_user), a tool result
# as a user message and as a `tool` message with non-string content, non-ASCII text.
HAND = {
    "dialogue_id": "hand_1",
    "messages": [
        {"role": "system", "content": "A SYSTEM TEXT THE TRACE CARRIES"},
        {"role": "user", "content": "I'd like to eat Italian food tonight."},
        _call("respond_to_user", json.dumps({"message": "In which city?"}), "c1"),
        {"role": "user", "content": "San José, something cheap please."},
        _call(
            "FindRestaurants", {"cuisine": "Italian", "city": "San José", "price_range": "inexpensive"}, "c2"
        ),
        {"role": "user", "content": json.dumps([{"restaurant_name": "Pasta Bella", "city": "San Jose"}])},
        {"role": "assistant", "content": "Pasta Bella is a cheap Italian place. Shall I book it?"},
        {"role": "user", "content": "Yes, a table for 2 at 7 pm."},
        _call(
            "ReserveRestaurant",
            {"restaurant_name": "Pasta Bella", "city": "San Jose", "time": "19:00", "party_size": "2"},
        ),
        {"role": "tool", "content": [{"status": "confirmed"}]},
        _call("respond_to_user", {"message": "Your table is booked. Enjoy!"}),
    ],
}
HAND_2 = {
    "dialogue_id": "hand_2",
    "messages": [
        {"role": "user", "content": "Any sushi bars in Palo Alto?"},
        _call("FindRestaurants", {"cuisine": "Japanese", "city": "Palo Alto"}),
        {"role": "user", "content": "[]"},
        _call("respond_to_user", {"message": "Sorry, I found nothing. Another cuisine?"}),
        {"role": "user", "content": "No thanks."},
        _call("respond_to_user", {"message": "Have a nice day!"}),
    ],
}
HAND_CONVS = [HAND, HAND_2]

# What each assistant turn of HAND must be trained on (and what a perfect student answers).
HAND_TARGETS = [
    '<tool_call>\n{"name": "respond_to_user", "arguments": {"message": "In which city?"}}\n</tool_call>',
    '<tool_call>\n{"name": "FindRestaurants", "arguments": {"cuisine": "Italian", "city": "San José", '
    '"price_range": "inexpensive"}}\n</tool_call>',
    '<tool_call>\n{"name": "respond_to_user", "arguments": {"message": "Pasta Bella is a cheap Italian place. '
    'Shall I book it?"}}\n</tool_call>',
    '<tool_call>\n{"name": "ReserveRestaurant", "arguments": {"restaurant_name": "Pasta Bella", "city": "San Jose", '
    '"time": "19:00", "party_size": "2"}}\n</tool_call>',
    '<tool_call>\n{"name": "respond_to_user", "arguments": {"message": "Your table is booked. Enjoy!"}}\n</tool_call>',
]


def assert_prefix_parity(renderer: Renderer, messages: list[dict]) -> int:
    """The proof for one conversation; returns how many assistant turns it checked."""
    tok = renderer.tokenizer
    ids, mask, turns = renderer.conversation_ids(messages)
    assert len(ids) == len(mask)
    assert [i for i, _, _ in turns] == [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    for i, prompt_len, call_end in turns:
        before = messages[:i]
        assert renderer.prompt_ids(before) == ids[:prompt_len], f"turn {i}: prompt is not a prefix"
        assert tok.decode(ids[:prompt_len]) == renderer.prompt_text(before)
        assert prompt_len < call_end <= len(ids)
    # the pieces tokenized one by one are the tokens of the joined text, and decode back to it
    text = renderer.text(messages)
    assert tok(text, add_special_tokens=False)["input_ids"] == ids
    assert tok.decode(ids) == text
    return len(turns)


# --------------------------------------------------------------------------- (a) prefix parity


@pytest.mark.parametrize("conv", HAND_CONVS, ids=lambda c: c["dialogue_id"])
def test_prefix_parity_on_hand_written_conversations(renderer, conv):
    assert assert_prefix_parity(renderer, conv["messages"]) == sum(
        m["role"] == "assistant" for m in conv["messages"]
    )


def test_prefix_parity_on_every_real_test_conversation(tok, dataset_dir):
    from tft_utils.train.render import load_tools

    renderer = Renderer.create(tok, load_tools(dataset_dir / "tools.json"))
    convs = read_jsonl(dataset_dir / "test.jsonl")
    assert len(convs) >= 30
    checked = sum(assert_prefix_parity(renderer, c["messages"]) for c in convs)
    assert checked == len(read_jsonl(dataset_dir / "test_pairs.jsonl"))


def test_pair_prompts_are_prefixes_of_the_trace_rendering(tok, dataset_dir):
    """Evaluation reads test_pairs.jsonl (arguments as objects), training reads traces (arguments as
    JSON strings): the prompt of every pair is still the prefix of its trace's training sequence."""
    from tft_utils.train.render import load_tools

    renderer = Renderer.create(tok, load_tools(dataset_dir / "tools.json"))
    traces = {t["dialogue_id"]: t["messages"] for t in read_jsonl(dataset_dir / "test.jsonl")}
    rendered = {did: renderer.conversation_ids(msgs) for did, msgs in traces.items()}
    for pair in read_jsonl(dataset_dir / "test_pairs.jsonl"):
        ids, _, turns = rendered[pair["dialogue_id"]]
        prompt_len = {i: start for i, start, _ in turns}[pair["turn"]]
        assert renderer.prompt_ids(json.loads(pair["question"])) == ids[:prompt_len]
        gold = json.loads(pair["answer"])  # the target after the prompt is the pair's answer
        call_end = {i: end for i, _, end in turns}[pair["turn"]]
        assert renderer.tokenizer.decode(ids[prompt_len:call_end]) == (
            call_text(gold["name"], gold["parameters"]) + renderer.end
        )


# Hermes/Qwen3-style template: renders `tools=` itself and, with enable_thinking=False, an empty
# think block in the generation prompt.
NATIVE_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] == 'system' and tools %}"
    "<|im_start|>system\n{{ message['content'] }}\n\n# Tools\n<tools>"
    "{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{% else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)


def test_native_tool_template_keeps_parity_and_the_empty_think_block():
    from transformers import AutoTokenizer

    from tft_utils.train.student import base_model_dir

    tok = AutoTokenizer.from_pretrained(base_model_dir("smoke"))
    tok.chat_template = NATIVE_TEMPLATE
    tok.add_tokens(["<think>", "</think>", "<tool_call>", "</tool_call>"])  # atomic, as in Qwen3
    r = Renderer.create(tok, TOOLS)
    assert r.native_tools and r.config()["native_tools"] is True
    assert "<tools>" in r.system_text and fallback_tools_text(TOOLS) not in r.system_text
    assert r.header == "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    for conv in HAND_CONVS:
        assert_prefix_parity(r, conv["messages"])
    ids, _, turns = r.conversation_ids(HAND["messages"])
    for i, _, _ in turns:  # every assistant turn, not only the last, carries the empty think block
        assert r.prompt_text(HAND["messages"][:i]).endswith("<think>\n\n</think>\n\n")


# --------------------------------------------------------------------------- (b) targets


def test_targets_are_tool_call_blocks_closed_by_the_end_of_turn_token(renderer):
    tok = renderer.tokenizer
    ids, mask, turns = renderer.conversation_ids(HAND["messages"])
    calls = [tok.decode(ids[start:end]) for _, start, end in turns]
    assert calls == [t + "<|im_end|>" for t in HAND_TARGETS]
    for text in calls:  # the JSON between the tags is the call, arguments as an object
        body = json.loads(text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call><|im_end|>"))
        assert set(body) == {"name", "arguments"} and isinstance(body["arguments"], dict)
    assert ids[turns[0][2] - 1] == tok.convert_tokens_to_ids("<|im_end|>")


def test_call_text_is_the_same_for_string_and_object_arguments(renderer):
    args = {"city": "San José", "cuisine": "Italian"}
    as_string = renderer.pieces([_call("FindRestaurants", json.dumps(args))])
    as_object = renderer.pieces([_call("FindRestaurants", args)])
    assert as_string == as_object
    assert call_text("FindRestaurants", args) == (
        '<tool_call>\n{"name": "FindRestaurants", "arguments": {"city": "San José", "cuisine": "Italian"}}\n</tool_call>'
    )


def test_pieces_roles_and_loss_flags(renderer):
    pieces = renderer.pieces(HAND["messages"])
    assert pieces[0] == (renderer.system_text, False, None, False)
    assert "A SYSTEM TEXT THE TRACE CARRIES" not in renderer.text(HAND["messages"])
    for text, loss, i, is_call in pieces[1:]:
        role = HAND["messages"][i]["role"]
        assert loss == is_call  # only call pieces carry loss (none is masked here)
        if is_call:
            assert role == "assistant" and text.endswith(renderer.end)
        elif role == "assistant":
            assert text in (renderer.header, renderer.after_end)
        else:  # user and tool results: the template's user wrapping
            assert role in ("user", "tool") and text.startswith("<|im_start|>user\n")
    tool_piece = [t for t, _, i, _ in pieces if i == 9][0]
    assert tool_piece == '<|im_start|>user\n[{"status": "confirmed"}]<|im_end|>\n'


def test_a_masked_assistant_message_is_context_without_loss(renderer):
    msgs = [dict(m) for m in HAND["messages"]]
    msgs[4] = {**msgs[4], "masked": True}
    plain, masked = renderer.pieces(HAND["messages"]), renderer.pieces(msgs)
    assert [t for t, *_ in plain] == [t for t, *_ in masked]  # same text, same tokens
    flags = {(i, is_call): loss for _, loss, i, is_call in masked}
    assert flags[(4, True)] is False and flags[(2, True)] is True and flags[(6, True)] is True


# --------------------------------------------------------------------------- (c) SmolLM2 fallback


def test_smollm2_template_falls_back_to_listing_the_tools_in_the_system_text(renderer):
    assert renderer.native_tools is False
    assert renderer.system_text.startswith("<|im_start|>system\n" + TASK_PROMPT + "\n\n")
    assert renderer.system_text.endswith(fallback_tools_text(TOOLS) + "<|im_end|>\n")
    for tool in TOOLS:
        assert tool_signature(tool) in renderer.system_text
    assert (
        "- FindRestaurants(cuisine, city, price_range?: inexpensive|moderate|expensive): "
        "Find a restaurant of a particular cuisine in a city"
    ) in renderer.system_text
    assert "- respond_to_user(message): Send a message to the user" in renderer.system_text
    assert (renderer.user_pre, renderer.user_post) == ("<|im_start|>user\n", "<|im_end|>\n")
    assert (renderer.header, renderer.end, renderer.after_end) == (
        "<|im_start|>assistant\n",
        "<|im_end|>",
        "\n",
    )
    assert renderer.config() == {"tools": TOOLS, "task_prompt": TASK_PROMPT, "native_tools": False}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "message, error",
    [
        ({"role": "narrator", "content": "x"}, "message 1: unknown role 'narrator'"),
        ({"role": "assistant"}, "message 1: assistant message without tool_calls or content"),
        (_call("FindRestaurants", "{bad json"), "message 1: tool-call arguments are not valid JSON"),
        (_call("FindRestaurants", "[1, 2]"), "message 1: tool call needs a string name and object arguments"),
    ],
)
def test_bad_messages_are_named(renderer, message, error):
    with pytest.raises(DataError, match=error):
        renderer.conversation_ids([{"role": "user", "content": "hi"}, message], "conversation d1")


def test_a_tokenizer_without_chat_template_is_refused(tok):
    from transformers import AutoTokenizer

    from tft_utils.train.student import base_model_dir

    bare = AutoTokenizer.from_pretrained(base_model_dir("smoke"))
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        Renderer.create(bare, TOOLS)


def test_a_masked_turn_whose_call_cannot_be_read_is_rendered_as_it_stands(renderer):
    # `tft clean` masks a turn it cannot settle and keeps the trace's own call, arguments unreadable or not:
    # training renders it as context (its raw text), never as an error; unmasked, it is one
    msgs = [dict(m) for m in HAND["messages"]]
    bad = {
        "role": "assistant",
        "tool_calls": [{"function": {"name": "FindRestaurants", "arguments": "{city:"}}],
    }
    msgs[4] = {**bad, "masked": True}
    pieces = renderer.pieces(msgs)
    text, loss = next((t, loss) for t, loss, i, is_call in pieces if i == 4 and is_call)
    assert loss is False and '"name": "FindRestaurants", "arguments": "{city:"' in text
    msgs[4] = bad
    with pytest.raises(DataError, match="message 4: tool-call arguments are not valid JSON"):
        renderer.pieces(msgs)
