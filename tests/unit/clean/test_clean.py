"""`tft clean` (filter -> align -> committee relabel) on small hand-written traces (STUDY §4.1-4.2)."""

import copy
import json
import os
import re
from pathlib import Path

import pytest

from tft_utils.clean.align import align
from tft_utils.clean.filter import score_traces
from tft_utils.clean.pipeline import OUTPUTS, clean_traces, load_input, run_clean
from tft_utils.clean.relabel import vote
from tft_utils.core.io import DataError, read_json, read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.domain.calls import read_call

MEMBERS = [("result_grounded", None), ("state_tracker", None)]


# --------------------------------------------------------------------------- hand-written traces


def user(text):
    return {"role": "user", "content": text}


def call(name, **args):
    fn = {"name": name, "arguments": json.dumps(args)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": f"call_{name}", "type": "function", "function": fn}],
    }


def say(text):
    return call("respond_to_user", message=text)


def results(*rows):
    return user(json.dumps(list(rows)))


EATERIES = [
    {"city": "San Jose", "cuisine": "Mexican", "has_live_music": "False", "phone_number": "408-555-0101",
     "price_range": "moderate", "restaurant_name": "Taqueria Eden", "serves_alcohol": "True",
     "street_address": "12 Main Street"},
    {"city": "San Jose", "cuisine": "Mexican", "has_live_music": "True", "phone_number": "408-555-0199",
     "price_range": "inexpensive", "restaurant_name": "La Costena", "serves_alcohol": "False",
     "street_address": "40 Oak Avenue"},
]  # fmt: skip
# SGD tool results list their keys sorted.
BOOKED = dict(sorted({**EATERIES[0], "date": "2019-03-01", "party_size": "2", "time": "19:00"}.items()))
FIND = {"name": "FindRestaurants", "arguments": {"city": "San Jose", "cuisine": "Mexican"}}
RESERVE = {
    "name": "ReserveRestaurant",
    "arguments": {"restaurant_name": "Taqueria Eden", "city": "San Jose", "time": "19:00", "date": "2019-03-01",
                  "party_size": "2"},
}  # fmt: skip


def restaurant_trace(did="r1"):
    return {
        "dialogue_id": did,
        "service": "Restaurants_1",
        "messages": [
            user("I'm hungry, can you find me a restaurant in San Jose?"),
            say("What kind of food would you like?"),
            user("Some Mexican food please."),
            call(FIND["name"], **FIND["arguments"]),
            results(*EATERIES),
            say("I found 2 restaurants. Taqueria Eden is a nice place in San Jose."),
            user("Sounds good, please book a table there at 7 pm for 2 people."),
            call(RESERVE["name"], **RESERVE["arguments"]),
            results(BOOKED),
            say("Your reservation is confirmed. Their phone number is 408-555-0101."),
            user("Thank you, that's all."),
            say("Have a nice day."),
        ],
    }


def hotel_trace(did="h1"):
    """A hotel booking whose functions were renamed to the restaurant ones (S5-like, not shuffled)."""
    hotel = {"hotel_name": "Hilton Garden Inn", "location": "San Jose", "star_rating": "3",
             "phone_number": "408-555-0300", "street_address": "55 First Street", "has_wifi": "True"}  # fmt: skip
    booking = {"hotel_name": "Hilton Garden Inn", "check_in_date": "2019-03-04", "number_of_rooms": "1",
               "number_of_days": "3"}  # fmt: skip
    return {
        "dialogue_id": did,
        "service": "Hotels_1",
        "messages": [
            user("I need a hotel room in San Jose for three nights."),
            say("How many stars should the hotel have?"),
            user("A 3 star hotel with wifi, we are staying from Monday."),
            call("FindRestaurants", location="San Jose", star_rating="3"),
            results(hotel),
            say("Hilton Garden Inn is a 3 star hotel in San Jose. Shall I book a room?"),
            user("Yes, book one room, check-in on Monday, for 3 nights."),
            call("ReserveRestaurant", **booking),
            results(dict(booking, location="San Jose")),
            say("Your room is booked. Enjoy your stay at the hotel."),
        ],
    }


FN_RENAMES = {"FindRestaurants": "SearchEateries", "ReserveRestaurant": "BookTable"}
KEY_RENAMES = {"city": "location", "cuisine": "type_of_food", "time": "dining_time", "party_size": "number_of_seats",
               "restaurant_name": "eatery_name", "price_range": "pricing", "phone_number": "contact_number",
               "street_address": "address", "has_live_music": "live_music", "serves_alcohol": "serves_liquor",
               "date": "day"}  # fmt: skip


def renamed_trace(did="x1"):
    """The restaurant trace under another schema's function and parameter names (S3-like)."""
    t = restaurant_trace(did)
    for m in t["messages"]:
        if m["role"] == "assistant":
            fn = m["tool_calls"][0]["function"]
            if fn["name"] in FN_RENAMES:
                args = json.loads(fn["arguments"])
                fn["name"] = FN_RENAMES[fn["name"]]
                fn["arguments"] = json.dumps({KEY_RENAMES[k]: v for k, v in args.items()})
        elif m["content"].startswith("["):
            m["content"] = json.dumps(
                [{KEY_RENAMES[k]: v for k, v in r.items()} for r in json.loads(m["content"])]
            )
    return t


def corrupted_trace(did="c1"):
    """S2-like noise: search logged as a reservation, wrong restaurant booked, a hotel reply."""
    t = restaurant_trace(did)
    t["messages"][3] = call("ReserveRestaurant", city="San Jose", cuisine="Mexican")
    t["messages"][7] = call("ReserveRestaurant", **dict(RESERVE["arguments"], restaurant_name="La Costena"))
    t["messages"][9] = say("Your room at the Hilton Garden Inn is booked for 3 nights.")
    return t


@pytest.fixture(scope="module")
def params():
    return load_params("cpu", "s2", [])


def F(**args):
    return {"name": "FindRestaurants", "arguments": args}


def R(**args):
    return {"name": "ReserveRestaurant", "arguments": args}


def S(text):
    return {"name": "respond_to_user", "arguments": {"message": text}}


# --------------------------------------------------------------------------- vote


def test_vote_agreement_keeps_the_call_after_canonicalising_values():
    members = {"a": F(city="San Jose", cuisine="Mexican"), "b": F(cuisine="mexican", city=" san  jose")}
    final, shares = vote(members, 0.6, logged=F(city="San Jose", cuisine="Mexican"))
    assert final == F(city="San Jose", cuisine="Mexican")  # the first voter's spelling
    assert shares == {"name": 1.0, "keys": 1.0, "values": 1.0}


def test_vote_two_of_three_with_the_logged_call():
    # Both members against the log: relabel.
    final, shares = vote({"a": F(city="A"), "b": F(city="A")}, 0.6, logged=F(city="C"))
    assert final == F(city="A") and shares["values"] == pytest.approx(2 / 3)
    # One member with the log: keep the logged value.
    final, shares = vote({"a": F(city="B"), "b": F(city="C")}, 0.6, logged=F(city="C"))
    assert final == F(city="C") and shares["values"] == pytest.approx(2 / 3)
    # The logged function name loses 1 to 2 as well.
    final, shares = vote({"a": F(city="A"), "b": F(city="A")}, 0.6, logged=R(city="A"))
    assert final == F(city="A") and shares["name"] == pytest.approx(2 / 3)


def test_vote_all_differ_is_masked():
    final, shares = vote({"a": F(city="A"), "b": F(city="B")}, 0.6, logged=F(city="C"))
    assert final is None
    assert shares == {"name": 1.0, "keys": 1.0, "values": pytest.approx(1 / 3)}
    final, shares = vote({"a": F(city="A"), "b": R(city="A")}, 0.6, logged=S("hi"))
    assert final is None and shares == {"name": pytest.approx(1 / 3)}


def test_vote_abstentions_do_not_vote():
    assert vote({"a": F(city="A"), "b": None}, 0.6) == (
        F(city="A"),
        {"name": 1.0, "keys": 1.0, "values": 1.0},
    )
    assert vote({"a": None, "b": None}, 0.6) == (None, {"name": 0.0})
    # One member abstains: the other and the log are 1 against 1, below 0.6.
    final, shares = vote({"a": F(city="A"), "b": None}, 0.6, logged=F(city="B"))
    assert final is None and shares["values"] == 0.5
    # A value a member leaves empty (None) is an abstention on that value only.
    final, _ = vote({"a": F(city="A", cuisine=None), "b": F(city="A", cuisine="X")}, 0.6)
    assert final == F(city="A", cuisine="X")


def test_vote_stage_agreement_shares():
    # name 2/3 (log agrees with a); keys among the FindRestaurants voters only: 1 of 2.
    final, shares = vote({"a": F(city="A", cuisine="X"), "b": R()}, 0.6, logged=F(city="A"))
    assert final is None
    assert shares == {"name": pytest.approx(2 / 3), "keys": 0.5}
    final, shares = vote(
        {"a": F(city="A", cuisine="X"), "b": F(city="A", cuisine="X")}, 0.6, logged=F(city="A")
    )
    assert final == F(city="A", cuisine="X")
    assert shares == {"name": 1.0, "keys": pytest.approx(2 / 3), "values": 1.0}
    # Unanimity required: the same 2-of-3 is masked.
    assert vote({"a": F(city="A"), "b": F(city="A")}, 1.0, logged=F(city="C"))[0] is None


def test_vote_on_a_reply_text_is_the_members_alone():
    assert vote({"a": S("hi"), "b": S("hi")}, 0.6, logged=S("hi"))[0] == S("hi")
    # None = "this text does not fit": the log never outvotes the members on the text.
    assert vote({"a": S(None), "b": S(None)}, 0.6, logged=S("hi"))[0] is None
    assert vote({"a": S("hi"), "b": S(None)}, 0.6, logged=S("hi"))[0] is None


# --------------------------------------------------------------------------- filter


def test_filter_drops_a_foreign_domain_trace_and_keeps_a_restaurant_trace(params):
    rows = score_traces([restaurant_trace(), hotel_trace()], params)
    good, hotel = rows
    assert [r["dialogue_id"] for r in rows] == ["r1", "h1"]
    for r in rows:
        assert set(r) >= {"dialogue_id", "relevance", "coherence", "reason", "scorer", "kept"}
        assert r["scorer"] == "rules" and "relevance:" in r["reason"] and "coherence:" in r["reason"]
        assert 1 <= r["relevance"] <= 5 and 1 <= r["coherence"] <= 5
    assert good["kept"] and good["relevance"] >= 4 and good["coherence"] == 5
    assert not hotel["kept"] and hotel["relevance"] < params["filter"]["relevance_min"]
    assert "0 restaurant / 10 other-service words" in hotel["reason"]


def test_filter_drops_a_shuffled_trace_for_coherence(params):
    t = restaurant_trace("shuffled")
    t["messages"] = t["messages"][::-1]
    (row,) = score_traces([t], params)
    assert row["relevance"] >= 4 and row["coherence"] < params["filter"]["coherence_min"] and not row["kept"]
    assert "ordering" in row["reason"]


# --------------------------------------------------------------------------- align


def test_align_maps_renamed_names_back_with_evidence(params):
    t = renamed_trace()
    fn = t["messages"][3]["tool_calls"][0]["function"]
    fn["arguments"] = json.dumps(dict(json.loads(fn["arguments"]), outdoor_seating="True"))
    (aligned,), (row,) = align([t], params["align"])
    assert row["dialogue_id"] == "x1"
    expected = {v: k for k, v in {**FN_RENAMES, **KEY_RENAMES}.items()}
    assert row["renamed"] == expected
    assert row["dropped_keys"] == ["outdoor_seating"]
    for foreign, target in expected.items():
        assert row["evidence"][foreign].startswith(f"-> {target}:")
    assert row["evidence"]["outdoor_seating"] == "no target slot fits (dropped)"
    # Calls and tool results read as in the clean trace again.
    clean = restaurant_trace()
    for got, want in zip(aligned["messages"], clean["messages"], strict=True):
        if want["role"] == "assistant":
            assert read_call(got) == read_call(want)
        elif want["content"].startswith("["):  # tool results
            assert json.loads(got["content"]) == json.loads(want["content"])
        else:
            assert got == want


def test_align_leaves_the_target_schema_alone_and_maps_price_words(params):
    t = renamed_trace()
    fn = t["messages"][3]["tool_calls"][0]["function"]
    fn["arguments"] = json.dumps(dict(json.loads(fn["arguments"]), pricing="pricey"))
    (clean, renamed), (clean_row, _) = align([restaurant_trace(), t], params["align"])
    assert clean_row["renamed"] == {} and clean_row["dropped_keys"] == []
    assert clean == restaurant_trace()
    assert read_call(renamed["messages"][3]) == F(city="San Jose", cuisine="Mexican", price_range="expensive")


# --------------------------------------------------------------------------- clean_traces


def test_clean_traces_relabels_and_masks(params):
    res = clean_traces([corrupted_trace(), hotel_trace()], params, MEMBERS)
    assert [s["kept"] for s in res["scores"]] == [True, False]
    assert [t["dialogue_id"] for t in res["dropped"]] == ["h1"]
    assert res["members"] == ["result_grounded", "state_tracker"]
    turns = {r["turn"]: r for r in res["turns"]}
    assert sorted(turns) == [1, 3, 5, 7, 9, 11] and {r["dialogue_id"] for r in res["turns"]} == {"c1"}
    assert turns[3]["decision"] == "relabelled" and turns[3]["final"] == FIND  # swapped tool restored
    assert (
        turns[7]["decision"] == "relabelled" and turns[7]["final"] == RESERVE
    )  # swapped parameters restored
    assert (
        turns[9]["decision"] == "masked" and turns[9]["final"] is None and turns[9]["masked"]
    )  # hotel reply
    assert all(turns[i]["decision"] == "kept" for i in (1, 5, 11))
    (kept,) = res["kept"]
    msgs = kept["messages"]
    assert read_call(msgs[3]) == FIND and read_call(msgs[7]) == RESERVE
    assert msgs[9]["masked"] is True and read_call(msgs[9]) == read_call(corrupted_trace()["messages"][9])
    assert sum("masked" in m for m in msgs) == 1


# --------------------------------------------------------------------------- run_clean


def _write_input(tmp_path, traces=None):
    path = tmp_path / "traces.jsonl"
    write_jsonl(path, traces or [restaurant_trace(), corrupted_trace(), hotel_trace(), renamed_trace()])
    return path


def test_run_clean_writes_the_documented_files(tmp_path, params):
    out = tmp_path / "clean"
    stats = run_clean(_write_input(tmp_path), out, params, log=lambda *_: None)
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, ".fingerprint.json"])
    scores = read_jsonl(out / "scores.jsonl")
    assert [s["dialogue_id"] for s in scores] == ["r1", "c1", "h1", "x1"]
    assert all({"relevance", "coherence", "reason", "scorer", "kept"} <= set(s) for s in scores)
    dropped = read_jsonl(out / "dropped.jsonl")
    assert [t["dialogue_id"] for t in dropped] == ["h1"]
    assert (
        dropped[0]["drop_reason"].startswith("relevance 2 < 3 (")
        and dropped[0]["messages"] == hotel_trace()["messages"]
    )
    kept = read_jsonl(out / "kept.jsonl")
    assert [t["dialogue_id"] for t in kept] == ["r1", "c1", "x1"]
    align_rows = read_jsonl(out / "align.jsonl")
    assert [r["dialogue_id"] for r in align_rows] == ["r1", "c1", "x1"]
    assert all(set(r) == {"dialogue_id", "renamed", "dropped_keys", "evidence"} for r in align_rows)
    assert align_rows[2]["renamed"]["SearchEateries"] == "FindRestaurants"
    turns = read_jsonl(out / "turns.jsonl")
    assert len(turns) == 18
    fields = {"dialogue_id", "turn", "original", "proposals", "final", "masked", "decision", "agreement"}
    for r in turns:
        assert set(r) == fields
        assert set(r["proposals"]) == {"result_grounded", "state_tracker"}
        assert (r["final"] is None) == r["masked"] == (r["decision"] == "masked")
    masked = [(r["dialogue_id"], r["turn"]) for r in turns if r["masked"]]
    assert masked == [("c1", 9)]
    assert {r["decision"] for r in turns} == {"kept", "relabelled", "masked"}
    assert stats == read_json(out / "stats.json")
    assert (stats["traces_in"], stats["kept"], stats["dropped"], stats["turns"]) == (4, 3, 1, 18)
    assert stats["decisions"] == {"kept": 15, "relabelled": 2, "masked": 1}
    assert stats["masked_share"] == round(1 / 18, 4) and stats["renamed_traces"] == 1
    assert stats["members"] == ["result_grounded", "state_tracker"]
    assert set(stats["mean_stage_agreement"]) == {"name", "keys", "values"}
    assert stats["member_agreement"]["result_grounded ~ state_tracker"]["both_voted"] == 18
    assert stats["fingerprint"] and stats["provenance"]["params"]["relabel"] == params["relabel"]


def _mtimes(out):
    return {f: os.stat(out / f).st_mtime_ns for f in OUTPUTS}


def _age(out):
    for f in OUTPUTS:
        os.utime(out / f, ns=(1_000_000_000, 1_000_000_000))


def test_run_clean_rerun_returns_at_once_and_force_redoes(tmp_path, params):
    path, out, logs = _write_input(tmp_path), tmp_path / "clean", []
    first = run_clean(path, out, params, log=logs.append)
    _age(out)
    old = _mtimes(out)
    again = run_clean(path, out, params, log=logs.append)
    assert again == first and _mtimes(out) == old
    assert len(logs) == 1 and "already cleaned" in logs[0]
    redone = run_clean(path, out, params, force=True, log=logs.append)
    assert all(t != old[f] for f, t in _mtimes(out).items())
    assert {k: v for k, v in redone.items() if k != "provenance"} == {
        k: v for k, v in first.items() if k != "provenance"
    }


def test_run_clean_redoes_when_traces_or_params_change(tmp_path, params):
    path, out = _write_input(tmp_path), tmp_path / "clean"
    run_clean(path, out, params, log=lambda *_: None)
    _age(out)
    strict = load_params("cpu", "s2", ["relabel.min_agreement=1.0"])
    stats = run_clean(path, out, strict, log=lambda *_: None)
    assert all(t > 1_000_000_000 for t in _mtimes(out).values())
    assert stats["decisions"]["masked"] > 1  # unanimity masks the 2-of-3 relabels too
    _age(out)
    _write_input(tmp_path, [restaurant_trace()])
    stats = run_clean(path, out, strict, log=lambda *_: None)
    assert stats["traces_in"] == 1 and all(t > 1_000_000_000 for t in _mtimes(out).values())


GOOD = json.dumps(restaurant_trace())


@pytest.mark.parametrize(
    "lines, message",
    [
        ([GOOD, '{"dialogue_id": "b", "messages": [', GOOD], ":2: not valid JSON"),
        ([GOOD, GOOD, json.dumps({"dialogue_id": "b"})], ":3: missing field(s) messages"),
        ([json.dumps(["not", "an", "object"])], ":1: expected a JSON object, got list"),
        (
            [GOOD, json.dumps({"dialogue_id": "b", "messages": []})],
            ":2 (dialogue b): 'messages' must be a non-empty list",
        ),
        (
            [json.dumps({"dialogue_id": "b", "messages": [{"content": "hi"}]})],
            ":1 (dialogue b): message 0: 'role' must be one of",
        ),
        # two traces with one id would exchange their labels (turns are matched by id and turn)
        ([GOOD, json.dumps(restaurant_trace() | {"x": 1})], ":2: dialogue_id 'r1' is also on line 1"),
        ([json.dumps(restaurant_trace() | {"dialogue_id": None})], ":1: 'dialogue_id' must be a non-empty"),
        ([json.dumps(restaurant_trace() | {"dialogue_id": ["a"]})], ":1: 'dialogue_id' must be a non-empty"),
        (  # the line in the file, blank lines counted
            [GOOD, "", "", json.dumps({"dialogue_id": "b", "messages": "hi"})],
            ":4 (dialogue b): 'messages' must be a non-empty list",
        ),
        (
            [json.dumps({"dialogue_id": "b", "messages": [{"role": "assistant", "tool_calls": "oops"}]})],
            ":1 (dialogue b): message 0: 'tool_calls' must be a list of",
        ),
        (
            [json.dumps({"dialogue_id": "b", "messages": [{"role": "user", "content": 3}]})],
            ":1 (dialogue b): message 0: 'content' must be a string, null, a list of text parts or",
        ),
        ([], ": no traces (an empty file)"),
    ],
)
def test_malformed_input_names_the_file_and_line(tmp_path, params, lines, message):
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        run_clean(path, tmp_path / "clean", params, log=lambda *_: None)
    assert str(err.value).startswith(str(path)) and message in str(err.value)
    assert not (tmp_path / "clean" / "stats.json").exists()


def test_missing_input_file_is_a_clear_error(tmp_path, params):
    # FileNotFoundError (raised while fingerprinting) is reported by the CLI like a DataError.
    with pytest.raises((DataError, FileNotFoundError), match="nope.jsonl"):
        run_clean(tmp_path / "nope.jsonl", tmp_path / "clean", params, log=lambda *_: None)
    assert not (tmp_path / "clean").exists()


def test_clean_does_not_modify_its_input(params):
    traces = [corrupted_trace(), hotel_trace(), renamed_trace()]
    before = copy.deepcopy(traces)
    clean_traces(traces, params, MEMBERS)
    assert traces == before


def test_the_stages_never_read_the_known_noise():
    """Only clean.report (tests, notebooks) may read corruptions.jsonl or the clean pool: the stages
    import none of the modules that know them and name none of those files outside their docstrings."""
    import ast

    import tft_utils

    root = Path(tft_utils.__file__).parent
    for name in ("pipeline", "filter", "align", "relabel", "state_tracker"):
        tree = ast.parse((root / "clean" / f"{name}.py").read_text())
        defs = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, defs) and ast.get_docstring(n)}
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & {
            "tft_utils.clean.report",
            "tft_utils.data.scenarios",
            "tft_utils.data.traces",
        }, name
        strings = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
        ]
        assert not [x for x in strings if "corruptions" in x or "train_pool" in x], name


def test_input_that_is_not_utf8_names_its_line(tmp_path, params):
    path = tmp_path / "traces.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"dialogue_id": "caf\xe9"}\n')
    with pytest.raises(DataError, match=re.escape(f"{path}:2: not UTF-8 text")):
        run_clean(path, tmp_path / "clean", params, log=lambda *_: None)


def test_text_parts_are_read_as_their_joined_text(tmp_path, params):
    trace = restaurant_trace()
    first = trace["messages"][0]
    parts = {
        **first,
        "content": [
            {"type": "text", "text": first["content"][:5]},
            {"type": "text", "text": first["content"][5:]},
        ],
    }
    path = _write_input(tmp_path, [{**trace, "messages": [parts, *trace["messages"][1:]]}])
    assert load_input(path)[0]["messages"] == trace["messages"]


def test_a_run_that_dies_halfway_leaves_no_folder_a_rerun_takes_for_finished(tmp_path, params, monkeypatch):
    import tft_utils.clean.pipeline as pipeline

    a = _write_input(tmp_path / "a", [restaurant_trace()])
    b = _write_input(tmp_path / "b", [restaurant_trace(), corrupted_trace()])
    out = tmp_path / "clean"
    run_clean(a, out, params, log=lambda *_: None)
    real = pipeline.write_jsonl

    def dies_after_kept(path, rows):  # b's scores, align and kept written, then the machine stops
        if Path(path).name == "dropped.jsonl":
            raise KeyboardInterrupt
        return real(path, rows)

    monkeypatch.setattr(pipeline, "write_jsonl", dies_after_kept)
    with pytest.raises(KeyboardInterrupt):
        run_clean(b, out, params, log=lambda *_: None)
    monkeypatch.undo()
    logs = []
    run_clean(a, out, params, log=logs.append)  # a again: its folder was half overwritten by b's run
    assert not any("already cleaned" in line for line in logs)
    assert [t["dialogue_id"] for t in read_jsonl(out / "kept.jsonl")] == ["r1"]
