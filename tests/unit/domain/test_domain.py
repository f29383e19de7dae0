"""The domain module (tft_utils/domain/): one definition of the tool names, call parsing and value
forms, at the bottom of the package, agreeing with SGD's schema and with itself (values written
into words read back as the same values)."""

import ast
import datetime as dt
import json
from pathlib import Path

import pytest

import tft_utils
from tft_utils.core import fresh
from tft_utils.core.io import DataError
from tft_utils.domain import calls, mentions, tools, values
from tft_utils.domain.calls import ToolCall, call_name, call_of, call_text, parse_tool_call, read_call
from tft_utils.domain.tools import FIND, RESERVE, RESPOND, TARGET, TODAY

PACKAGE = Path(tft_utils.__file__).parent
DOMAIN = PACKAGE / "domain"


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text())


def _imports(tree: ast.Module) -> set[str]:
    out = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return out | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


# --------------------------------------------------------------------------- one place, at the bottom


def test_domain_imports_nothing_above_it():
    for path, tree in _modules(DOMAIN):
        ours = {m for m in _imports(tree) if m.startswith("tft_utils")}
        assert ours <= {"tft_utils.core.io", *(f"tft_utils.domain.{p.stem}" for p in DOMAIN.glob("*.py"))}, (
            path
        )


def test_no_copy_of_the_domain_outside_it():
    """No module outside domain/ defines a function or constant the domain defines, nor spells a
    tool name, the service, today's date or a price level as a string of its own."""
    defined = set()
    for _, tree in _modules(DOMAIN):
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                defined.add(n.name)
            elif isinstance(n, ast.Assign):
                defined |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    defined -= {"__doc__"}
    literals = {*tools.TOOLS, tools.SERVICE, tools.TODAY_ISO, *tools.PRICE_RANGES}
    for path, tree in _modules(PACKAGE):
        if DOMAIN in path.parents:
            continue
        own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        own |= {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        assert not own & defined, f"{path.name} defines {sorted(own & defined)} again"
        spelled = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in literals}
        assert not spelled, f"{path.name} spells {sorted(spelled)}"


# --------------------------------------------------------------------------- tools


def test_schema_facts_agree_with_each_other():
    assert tools.CONSTRAINTS == tuple(TARGET[FIND]["optional"])
    assert set(tools.BOOL_SLOTS) <= set(tools.CONSTRAINTS)
    assert set(tools.BOOKING_DETAILS) <= set(tools.parameters(RESERVE))
    for tool, defaults in tools.OPTIONAL.items():
        assert set(defaults) == set(TARGET[tool]["optional"]), tool
    assert tools.ECHOED_SLOTS == tuple(
        dict.fromkeys(s for t in tools.SERVICE_TOOLS for s in tools.parameters(t) if s != "time")
    )
    assert tools.parameters("NoSuchTool") == [] and tools.parameters(RESPOND) == ["message"]
    assert TODAY.weekday() == 4 and tools.TODAY_ISO == "2019-03-01"  # a Friday, as every SGD dialogue


def test_target_schema_is_sgds_restaurants_schema(dataset_dir):
    """The tools.json `tft data` writes from SGD's schema.json has exactly the domain's tools."""
    found = {
        t["function"]["name"]: (
            set(t["function"]["parameters"]["required"]),
            set(t["function"]["parameters"]["properties"]) - set(t["function"]["parameters"]["required"]),
        )
        for t in json.loads((dataset_dir / "tools.json").read_text())
    }
    assert found == {name: (set(s["required"]), set(s["optional"])) for name, s in TARGET.items()}
    price = next(
        t for t in json.loads((dataset_dir / "tools.json").read_text()) if t["function"]["name"] == FIND
    )
    assert price["function"]["parameters"]["properties"]["price_range"]["enum"][:4] == list(
        tools.PRICE_RANGES
    )


# --------------------------------------------------------------------------- calls


def _msg(name, args):
    return calls.assistant_call(name, args, "call_x")


def test_written_calls_read_back_the_same_by_every_reader():
    args = {"city": "San José", "cuisine": "Thai", "party_size": "2"}
    m = _msg(FIND, args)
    assert call_of(m) == (FIND, args)
    assert read_call(m) == {"name": FIND, "arguments": args}
    assert call_name(m) == FIND
    assert parse_tool_call(call_text(*call_of(m))) == ToolCall(FIND, args)
    calls.write_call(m, {"name": RESERVE, "arguments": {"time": "18:30"}})
    assert call_of(m) == (RESERVE, {"time": "18:30"}) and isinstance(
        m["tool_calls"][0]["function"]["arguments"], str
    )
    object_form = {"role": "assistant", "tool_calls": [{"function": {"name": FIND, "arguments": args}}]}
    assert call_of(object_form) == (FIND, args) and read_call(object_form)["arguments"] == args


def test_strict_and_lenient_readers_differ_only_in_how_they_fail():
    broken = {"role": "assistant", "tool_calls": [{"function": {"name": FIND, "arguments": "{not json"}}]}
    with pytest.raises(DataError, match="message 3: tool-call arguments are not valid JSON"):
        call_of(broken, "message 3")
    assert read_call(broken) is None and call_name(broken) == FIND
    with pytest.raises(DataError, match="without tool_calls or content"):
        call_of({"role": "assistant"})
    assert read_call({"role": "assistant"}) is None and call_name({"role": "assistant"}) is None
    assert call_of({"role": "assistant", "content": "Hi"}) == (RESPOND, {"message": "Hi"})


def test_results_are_a_json_list_in_a_user_message():
    assert calls.read_results({"role": "user", "content": ' [{"city": "SF"}, 3]'}) == [{"city": "SF"}]
    assert calls.read_results({"role": "user", "content": "[]"}) == []
    assert calls.read_results({"role": "user", "content": "Thanks"}) is None
    assert calls.read_results({"role": "assistant", "content": "[]"}) is None


# --------------------------------------------------------------------------- values and mentions


@pytest.mark.parametrize("style", ["system", "24h", "words", "short"])
def test_every_time_written_in_words_reads_back_as_that_time(style):
    for h in range(24):
        for m in (0, 15, 30, 45):
            hhmm = f"{h:02d}:{m:02d}"
            text = values.time_words(hhmm, style)
            assert h * 60 + m in values.time_options(text), (hhmm, text)
            assert h * 60 + m in mentions.times_said(f"at {text} please"), (hhmm, text)


@pytest.mark.parametrize("style", ["month", "ordinal", "relative"])
def test_every_date_written_in_words_reads_back_as_that_date(style):
    for k in range(30):
        day = TODAY + dt.timedelta(days=k)
        text = values.date_words(day.isoformat(), style)
        assert day in values.date_options(text, TODAY), (day, text)
        assert mentions.parse_date(f"on {text}", TODAY) == day.isoformat(), (day, text)


def test_numbers_and_price_levels_read_back():
    for n in range(13):
        assert values.number(values.number_word(n)) == n
    for level in tools.PRICE_RANGES:
        assert values.price_key(level) == level and values.value_kind(level) == "price"
        assert values.normalise_value("price_range", level.upper()) == level
    assert values.normalise_value("price_range", "pricey") == "expensive"


def test_the_two_readings_of_a_time():
    """Every form a time may mean (judging, grounding) vs the one value a call gets (state tracker)."""
    assert values.time_options("6:30") == {6 * 60 + 30, 18 * 60 + 30}
    assert mentions.parse_time("a table at 6:30 for two") == "18:30"  # SGD books 10:00-21:00
    assert mentions.parse_time("half past 11 in the morning") == "11:30"
    assert mentions.parse_time("for 4 people") is None  # a bare number is a count
    assert mentions.parse_party("for 4 people at 7 pm") == "4" and mentions.parse_party("just me") == "1"
    assert mentions.sizes_said("a table for four of us") == {4}
    assert mentions.parse_price("somewhere not too expensive") == "inexpensive"


def test_dates_relative_to_the_conversations_today():
    assert mentions.parse_date("the day after tomorrow", TODAY) == "2019-03-03"
    assert mentions.parse_date("next Monday", TODAY) == "2019-03-04"
    assert values.date_options("Feb 30th", TODAY) == set() and values.safe_date(2019, 2, 30) is None
    said = mentions.dates_said("on March 5th or the 7th", TODAY)  # "the 7th": this month's or next
    assert said == {dt.date(2019, 3, 5), dt.date(2019, 3, 7), dt.date(2019, 4, 7)}


# --------------------------------------------------------------------------- fingerprints


def test_an_edit_to_call_parsing_retrains_and_repredicts_an_edit_to_value_forms_does_not(
    monkeypatch, dataset_dir
):
    """render.py reads calls with domain/calls.py: that file shapes the students and their
    predictions; domain/values.py (judging, grounding) shapes neither."""
    from tft_utils.core.params import load_params
    from tft_utils.evaluate.compare import predictions_fingerprint
    from tft_utils.train.arms import student_fingerprint

    params = load_params("smoke", "s1")
    convs = [{"dialogue_id": "d", "messages": [{"role": "user", "content": "hi"}]}]
    pairs, tool_file = dataset_dir / "test_pairs.jsonl", dataset_dir / "tools.json"

    def fps():
        return (
            student_fingerprint(convs, {"data": dataset_dir}, params, 0)["digest"],
            predictions_fingerprint(dataset_dir, pairs, tool_file, params)["digest"],
        )

    real, before = fresh.source_hash, fps()
    for edited, changes in (
        ("calls.py", True),
        ("tools.py", True),
        ("values.py", False),
        ("mentions.py", False),
    ):
        monkeypatch.setattr(
            fresh, "source_hash", lambda p, e=edited: real(p) + ("!" if Path(p) == DOMAIN / e else "")
        )
        after = fps()
        assert (after[0] != before[0], after[1] != before[1]) == (changes, changes), edited


# --------------------------------------------------------------------------- messages as every stage reads them


def test_checked_messages_join_text_parts_and_name_a_wrong_shape():
    from tft_utils.core.io import DataError
    from tft_utils.domain.messages import checked_id, checked_messages

    parts = [{"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "table"}]}]
    given = [*parts, {"role": "user", "content": [{"restaurant_name": "X"}]}]  # a tool's results, kept
    assert checked_messages(given, "f:1") == [{"role": "user", "content": "a table"}, given[1]]
    assert given[0]["content"][0] == {"type": "text", "text": "a "}  # the input is left as it is
    call = {"role": "assistant", "tool_calls": [{"function": {"name": "x", "arguments": "{bad"}}]}
    assert checked_messages([call], "f:1") == [call]  # unreadable arguments: for `tft clean` to mask
    for messages, error in [
        ("hi", "f:1: 'messages' must be a non-empty list"),
        ([], "f:1: 'messages' must be a non-empty list"),
        (["hi"], "f:1: message 0: expected an object with a 'role', got str"),
        ([{"role": "bot"}], "f:1: message 0: 'role' must be one of system, user, assistant, tool, got 'bot'"),
        ([{"role": "assistant", "tool_calls": "x"}], "f:1: message 0: 'tool_calls' must be a list of"),
        ([{"role": "assistant", "tool_calls": ["x"]}], "f:1: message 0: 'tool_calls' must be a list of"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": 3}}]}], "f:1: message 0: 'tool_calls'"),
        ([{"role": "user", "content": 3.5}], "f:1: message 0: 'content' must be a string, null, a list of"),
    ]:
        with pytest.raises(DataError) as err:
            checked_messages(messages, "f:1")
        assert str(err.value).startswith(error), (messages, str(err.value))
    assert checked_id({"dialogue_id": 7}, "f:1") == "7"
    for bad in (None, "", ["a"], True):
        with pytest.raises(DataError, match="f:1: 'dialogue_id' must be a non-empty string or an integer"):
            checked_id({"dialogue_id": bad}, "f:1")
