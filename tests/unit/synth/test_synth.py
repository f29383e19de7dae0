import json
import re

import pytest

from tests.serve_fixture import ScriptedOpenAIServer
from tft_utils import cli
from tft_utils.core import fresh
from tft_utils.core.io import DataError, read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.domain.mentions import CLOCK
from tft_utils.resources import resource
from tft_utils.synth.flow import simulate, utterances
from tft_utils.synth.lexicon import delexicalise, events, fill
from tft_utils.synth.pipeline import compact, parse_teacher, synthesize, teacher_request
from tft_utils.synth.rules import Bank

WINDOWS = {"short": (9, 13), "short_medium": (13, 17), "medium": (15, 19), "long": (21, 29)}


@pytest.fixture(scope="module")
def s4_seeds(dataset_dir):
    ids = resource("s4_low_data_dialogue_ids.txt").read_text().split()
    pool = {r["dialogue_id"]: r for r in read_jsonl(dataset_dir / "train_pool.jsonl")}
    return [pool[i] for i in ids]


@pytest.fixture(scope="module")
def bank(s4_seeds):
    return Bank.from_seeds(s4_seeds)


def params_for(dataset_dir, *overrides):
    return load_params(
        "cpu",
        "s4",
        [
            f"synth.tools_path={dataset_dir / 'tools.json'}",
            f"validate.test_path={dataset_dir / 'test.jsonl'}",
            *overrides,
        ],
    )


def test_delexicalise_replaces_values_and_fill_renders_sgd_forms():
    values = {"city": {"San Mateo"}, "restaurant_name": {"Celia's"}, "cuisine": {"Mexican"}}
    text = "Please confirm: a table for 2 people at Celia's in San Mateo for today at half past 5 in the evening."
    tpl = delexicalise(text, values, reservation_context=True)
    assert (
        tpl
        == "Please confirm: a table for {party_size} people at {restaurant_name} in {city} for {date} at {time}."
    )
    assert (
        delexicalise("I want a reservation on March 13th at 12:30.", {}, True)
        == "I want a reservation on {date} at {time}."
    )
    for day in ("11th of March", "the 3rd of this month", "Monday next week"):  # DATE_PHRASE's forms too
        assert delexicalise(f"Book it on {day}, at 5 pm.", {}, True) == "Book it on {date}, at {time}."
    assert (
        delexicalise("Make a reservation for two people.", {}, True)
        == "Make a reservation for {party_size_w} people."
    )
    out = fill(
        tpl,
        {
            "party_size": "1",
            "restaurant_name": "Rubio's",
            "city": "Berkeley",
            "date": "2019-03-05",
            "time": "19:15",
        },
        None,
        "assistant",
    )
    assert out == "Please confirm: a table for 1 person at Rubio's in Berkeley for March 5th at 7:15 pm."
    # a count re-filled into a seed's wording agrees in number, both ways
    assert fill("There are {count} restaurants that match.", {"count": "1"}, None, "assistant") == (
        "There is 1 restaurant that matches."
    )
    assert fill("There is {count_w} place which suits you.", {"count": "3"}, None, "assistant") == (
        "There are three places which suit you."
    )


def test_bank_reads_acts_and_catalogue_from_five_seeds(bank, s4_seeds):
    acts = bank.templates
    for act in (
        "open_find",
        "request",
        "offer",
        "confirm",
        "affirm",
        "success",
        "goodbye",
        "thanks_bye",
        "bye",
    ):
        assert acts[act], act
    asked = set().union(*(t["requests"] for t in acts["request"]))
    assert {"city", "cuisine", "time"} <= asked
    assert all("{restaurant_name}" in t["text"] and "{time}" in t["text"] for t in acts["confirm"])
    assert len(bank.restaurants) >= 20 and len(bank.cities) == 5
    names = {r["restaurant_name"] for r in bank.restaurants.values()}
    leftovers = [t["text"] for ts in acts.values() for t in ts if any(n in t["text"] for n in names)]
    assert not leftovers  # every seed value became a placeholder
    # a user template that states a constraint in words keeps its meaning as a fixed value
    assert {"price_range": "moderate", "serves_alcohol": "True"} in [
        t["constraints"] for t in acts["open_find"]
    ]


@pytest.mark.parametrize("topic", sorted(WINDOWS))
def test_simulated_conversations_follow_sgd_conventions(bank, topic):
    for k in range(5):
        msgs, meta = simulate(bank, topic, WINDOWS[topic], f"0:{topic}:{k}", sorted(bank.cuisines), "synth/x")
        assert WINDOWS[topic][0] <= utterances(msgs) <= WINDOWS[topic][1] and meta["turns"] == utterances(
            msgs
        )
        evs = events({"messages": msgs})
        assert evs[0]["kind"] == "user" and evs[-1]["kind"] == "say"
        said = [e["text"] for e in evs if e["kind"] == "user"]
        assert len(said) == len(set(said)), "a user repeats an utterance word for word"
        names = [e["name"] for e in evs if e["kind"] == "call"]
        assert names[-1] == "ReserveRestaurant"
        for i, ev in enumerate(evs):
            if ev["kind"] == "call":
                assert evs[i + 1]["kind"] == "result" and evs[i + 2]["kind"] == "say"
                assert all(isinstance(v, str) for v in ev["args"].values())
            if ev.get("name") == "ReserveRestaurant":
                a = ev["args"]
                assert re.fullmatch(r"\d\d:\d\d", a["time"]) and re.fullmatch(r"2019-03-\d\d", a["date"])
                assert a["party_size"] in "123456" and set(a) == {
                    "city",
                    "date",
                    "party_size",
                    "restaurant_name",
                    "time",
                }
        for m in msgs:
            if m["role"] == "user" and m["content"].startswith("["):
                for r in json.loads(m["content"]):
                    assert list(r) == sorted(r)
        if topic in ("short", "medium"):
            assert names[0] == "FindRestaurants"
    again, _ = simulate(bank, topic, WINDOWS[topic], f"0:{topic}:0", sorted(bank.cuisines), "synth/x")
    first, _ = simulate(bank, topic, WINDOWS[topic], f"0:{topic}:0", sorted(bank.cuisines), "synth/x")
    assert again == first  # a pure function of (seed, index)


def test_s4_done_when_300_validated_from_five_seeds(dataset_dir, s4_seeds, tmp_path):
    write_jsonl(tmp_path / "seeds.jsonl", s4_seeds)
    params = params_for(dataset_dir)
    stats = synthesize(tmp_path / "seeds.jsonl", tmp_path / "out", params, n=300, progress=False)
    rows = read_jsonl(tmp_path / "out" / "synthetic.jsonl")
    meta = read_jsonl(tmp_path / "out" / "synthetic_meta.jsonl")
    assert stats["validated"] == len(rows) == 300
    assert set(stats["topics"]) == set(WINDOWS) and min(stats["topics"].values()) >= 30
    assert stats["max_jaccard"]["seed"] < params["validate"]["dup_seed"]
    assert stats["max_jaccard"]["test"] < params["validate"]["dup_test"]
    # grounding of what the teacher wrote, before validation, and the test near-duplicates dropped
    assert stats["grounding"]["candidates"] == stats["candidates"] and stats["grounding"]["rate"] >= 0.95
    assert stats["leakage"]["test_near_duplicates_dropped"] == 0 and stats["leakage"]["threshold"] == 0.4
    assert all(
        re.fullmatch(r"synth/\d{6}", r["dialogue_id"]) and r["service"] == "Restaurants_1" for r in rows
    )
    assert len({r["dialogue_id"] for r in rows}) == 300
    assert {m["dialogue_id"] for m in meta} == {r["dialogue_id"] for r in rows}
    for r in read_jsonl(tmp_path / "out" / "rejected.jsonl"):
        assert r["reasons"] and all(":" in x for x in r["reasons"])


def test_killed_run_resumes_without_redoing_candidates(dataset_dir, s4_seeds, tmp_path):
    write_jsonl(tmp_path / "seeds.jsonl", s4_seeds)
    params = params_for(dataset_dir, "synth.batch=8")
    synthesize(tmp_path / "seeds.jsonl", tmp_path / "fresh", params, n=40, progress=False)
    synthesize(tmp_path / "seeds.jsonl", tmp_path / "cut", params, n=40, progress=False)
    cand = tmp_path / "cut" / "candidates.jsonl"
    lines = cand.read_text().splitlines(keepends=True)
    cand.write_text("".join(lines[:17]) + lines[17][:50])  # a crash mid-write of candidate 17
    (tmp_path / "cut" / "synthetic.jsonl").unlink()
    synthesize(tmp_path / "seeds.jsonl", tmp_path / "cut", params, n=40, progress=False)
    after = [json.loads(x) for x in cand.read_text().splitlines()[:17]]
    assert [json.loads(x) for x in lines[:17]] == after  # finished candidates were kept, not redone
    assert (tmp_path / "cut" / "synthetic.jsonl").read_text() == (
        tmp_path / "fresh" / "synthetic.jsonl"
    ).read_text()
    # other params on the same folder: synthesis reruns from scratch (not resumed from these candidates)
    before = fresh.read(tmp_path / "cut")["digest"]
    stats = synthesize(
        tmp_path / "seeds.jsonl",
        tmp_path / "cut",
        params_for(dataset_dir, "synth.n_seeds=3"),
        n=30,
        progress=False,
    )
    assert stats["validated"] == 30 and fresh.read(tmp_path / "cut")["digest"] != before
    assert len(read_jsonl(tmp_path / "cut" / "synthetic.jsonl")) == 30


def test_cli_writes_outputs_and_requires_the_test_set(dataset_dir, s4_seeds, tmp_path, capsys):
    write_jsonl(tmp_path / "seeds.jsonl", s4_seeds)
    tools = f"synth.tools_path={dataset_dir / 'tools.json'}"
    rc = cli.main(
        [
            "synth",
            str(tmp_path / "seeds.jsonl"),
            "--n",
            "12",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "-p",
            tools,
            "--params",
            f"validate.test_path={dataset_dir / 'test.jsonl'}",
        ]
    )
    assert rc == 0 and len(read_jsonl(tmp_path / "o" / "synthetic.jsonl")) == 12
    assert (tmp_path / "o" / "rejected.jsonl").exists() and (tmp_path / "o" / "synth_stats.json").exists()
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["validated"] == 12
    rc = cli.main(
        ["synth", str(tmp_path / "seeds.jsonl"), "--n", "5", "--out", str(tmp_path / "p"), "-p", tools]
    )
    assert rc == 2 and "validate.test_path" in capsys.readouterr().err


def test_parse_teacher_is_strict(s4_seeds):
    good = json.dumps({"messages": compact(s4_seeds[0]["messages"])})
    row = parse_teacher("```json\n" + good + "\n```", "synth/000001")
    assert [m["role"] for m in row["messages"]] == [m["role"] for m in s4_seeds[0]["messages"]]
    assert events(row) == events(s4_seeds[0])  # same calls, results and words
    for bad in (
        "Sure, here is a conversation!",
        '{"messages": []}',
        '{"messages": [{"role": "system"}]}',
        '{"messages": [{"role": "assistant", "name": "respond_to_user", "arguments": "hi"}]}',
    ):
        with pytest.raises(DataError):
            parse_teacher(bad, "synth/000002")


def test_llm_teacher_against_a_real_loopback_server(dataset_dir, s4_seeds, bank, tmp_path):
    """One teacher call per conversation; garbage and seed copies rejected with reasons; a rerun is free."""
    msgs, _ = simulate(bank, "medium", WINDOWS["medium"], "llm-test", sorted(bank.cuisines), "x")
    new = json.dumps({"messages": compact(msgs)})
    copy = json.dumps({"messages": compact(s4_seeds[1]["messages"])})
    write_jsonl(tmp_path / "seeds.jsonl", s4_seeds)
    script = [{"text": "I cannot do that."}, {"text": copy}, {"text": new}]  # concurrency 1: in order
    with ScriptedOpenAIServer(script, default={"text": "no"}) as server:
        params = params_for(
            dataset_dir,
            "roles.teacher=t",
            "synth.batch=3",
            "synth.max_candidates_factor=3.0",
            f"backends.cache_dir={tmp_path / 'cache'}",
            {
                "backends": {
                    "endpoints": {"t": {"base_url": server.base_url, "model": "teach", "concurrency": 1}}
                }
            },
        )
        stats = synthesize(tmp_path / "seeds.jsonl", tmp_path / "o", params, n=1, progress=False)
        sent = len(server.received)
    assert sent == 3 and stats["validated"] == 1
    prompt = server.received[0]
    assert "FindRestaurants" in json.dumps(prompt)
    rejected = read_jsonl(tmp_path / "o" / "rejected.jsonl")
    assert rejected[0]["reasons"][0].startswith("parse: no JSON object")
    assert rejected[1]["reasons"][0].startswith(
        f"near-duplicate of seed {s4_seeds[1]['dialogue_id']} (jaccard 1.00"
    )
    # a fresh folder with the same cache: every call is a cache hit, the server is not needed
    stats2 = synthesize(tmp_path / "seeds.jsonl", tmp_path / "o2", params, n=1, progress=False)
    assert stats2["validated"] == 1


def test_llm_teacher_and_judge_answer_from_the_final_content_not_the_reasoning(
    dataset_dir, s4_seeds, bank, tmp_path
):
    """Reasoning models (shapes as in test_backends.py): the teacher's conversation and the judge's
    score are read from the final content while the reasoning holds decoys (a seed copy, a failing
    score); a reply cut while reasoning is a parse rejection (teacher) or an unparseable score that
    is counted and left to the rules judge (judge)."""
    cuisines = sorted(bank.cuisines)
    new = [
        json.dumps(
            {"messages": compact(simulate(bank, "medium", WINDOWS["medium"], f"think-{k}", cuisines, "x")[0])}
        )
        for k in range(2)
    ]
    copy = json.dumps({"messages": compact(s4_seeds[1]["messages"])})
    teacher_replies = [
        {"text": new[0], "message": {"reasoning_content": f"A draft: {copy}"}},  # vLLM's field
        {"text": f"<think>\nA draft: {copy}", "finish_reason": "length"},  # cut while reasoning
        {"text": f"<think>\nA draft: {copy}\n</think>\n\n{new[1]}"},  # GLM / Qwen3 inline
    ]
    judge_replies = [
        {"text": '{"score": 5}', "message": {"reasoning": 'Perhaps {"score": 1}? No.'}},
        {"text": '<think>\nPerhaps {"score": 1}', "finish_reason": "length"},
    ]
    write_jsonl(tmp_path / "seeds.jsonl", s4_seeds)
    with ScriptedOpenAIServer(teacher_replies) as t, ScriptedOpenAIServer(judge_replies) as j:
        endpoints = {
            "t": {"base_url": t.base_url, "model": "teach", "concurrency": 1},
            "j": {"base_url": j.base_url, "model": "judge", "concurrency": 1},
        }
        params = params_for(
            dataset_dir,
            "roles.teacher=t",
            "roles.judge=j",
            "synth.batch=3",
            "synth.max_candidates_factor=1.5",
            f"backends.cache_dir={tmp_path / 'cache'}",
            {"backends": {"endpoints": endpoints}},
        )
        stats = synthesize(tmp_path / "seeds.jsonl", tmp_path / "o", params, n=2, progress=False)
        assert (len(t.received), len(j.received)) == (3, 2)
    assert stats["validated"] == 2 and stats["rejection_reasons"] == {"parse": 1}
    assert stats["judge_unparseable"] == 1
    scores = [m["judge"] for m in read_jsonl(tmp_path / "o" / "synthetic_meta.jsonl")]
    assert scores[0] == 5 and scores[1] >= params["validate"]["min_judge"]  # the rules, not the decoy's 1


def test_teacher_request_names_topic_window_and_rotates_seeds(s4_seeds):
    tools = [{"type": "function", "function": {"name": "FindRestaurants", "parameters": {}}}]
    a = teacher_request(s4_seeds, tools, "long", (21, 29), 0, 2)
    b = teacher_request(s4_seeds, tools, "long", (21, 29), 1, 2)
    assert "21-29 turns" in a[1]["content"] and a[1]["content"] != b[1]["content"]
    assert a[0]["role"] == "system" and "FindRestaurants" in a[0]["content"]


@pytest.fixture(scope="module")
def s1_sample(dataset_dir):
    """90 of the 327 S1 traces (the published base size), drawn as `seed_rows` draws them."""
    import random

    pool = read_jsonl(dataset_dir / "train_pool.jsonl")
    return sorted(random.Random(0).sample(pool, 90), key=lambda r: r["dialogue_id"])


@pytest.mark.parametrize("seeds_name", ["s4_seeds", "s1_sample"])
def test_rules_teacher_writes_grounded_conversations(dataset_dir, seeds_name, request):
    """At least 95% of what the rules teacher writes passes the grounding check before any filtering."""
    from tft_utils.core.io import read_json
    from tft_utils.synth.grounding import check_grounding
    from tft_utils.synth.pipeline import Teacher

    seeds = request.getfixturevalue(seeds_name)
    teacher = Teacher(seeds, read_json(dataset_dir / "tools.json"), params_for(dataset_dir))
    rows = [rec["row"] for rec in teacher.make(list(range(200)), progress=False) if "row" in rec]
    failed = [(r["dialogue_id"], g.message) for r in rows if not (g := check_grounding(r)).valid]
    assert len(rows) == 200 and len(failed) <= 10, failed


SYSTEM_ACTS = {
    "request",
    "offer",
    "offer_alt",
    "no_results",
    "offer_intent",
    "confirm",
    "confirm_change",
    "success",
    "failure",
    "inform_fact",
    "req_more",
    "goodbye",
}


def test_bank_keeps_no_template_whose_words_refilling_would_falsify(s1_sample):
    """Phones, addresses, cuisines and other domains left in an utterance's words, booking news in an
    act that is not that news, a user constraint its search did not carry: none become templates."""
    from tft_utils.domain.replies import _reply_claims
    from tft_utils.synth.rules import CUISINE_WORDS, states_literal

    bank = Bank.from_seeds(s1_sample)
    for act, templates in bank.templates.items():
        for t in templates:
            assert not states_literal(t["text"]), (act, t["text"])
            if act != "request":
                assert not CUISINE_WORDS.search(t["text"]), (act, t["text"])
            claim = _reply_claims(t["text"]) if act in SYSTEM_ACTS else None  # the assistant's words
            assert claim is None or (act, claim) in (("success", "succeeded"), ("failure", "failed"))
    # a seed where the user says "expensive" but the search (after a later turn) is moderate: not a template
    assert all(
        t["constraints"].get("price_range") != "moderate" or "expensive" not in t["text"]
        for t in bank.templates["open_find"]
    )


def test_compact_keeps_a_user_turn_after_a_call_no_tool_answered():
    """S2 corrupts replies into service calls: the next message is the user's words, not a tool result.
    The teacher's prompt shows it as the user turn it is (it used to raise JSONDecodeError)."""
    call = {"name": "FindRestaurants", "arguments": json.dumps({"city": "San Jose", "cuisine": "Thai"})}
    msgs = [
        {"role": "user", "content": "Thai food in San Jose?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": call}]},
        {"role": "user", "content": "Something cheap, please."},
        {"role": "assistant", "tool_calls": [{"id": "call_2", "type": "function", "function": call}]},
        {"role": "user", "content": '[{"name": "Thai Basil"}]'},
    ]
    assert [m["role"] for m in compact(msgs)] == ["user", "assistant", "user", "assistant", "tool"]
    assert compact(msgs)[2]["content"] == "Something cheap, please."
    assert compact(msgs)[4]["content"] == [{"name": "Thai Basil"}]


@pytest.mark.parametrize(
    "setup, error",
    [
        ("tools-object", "tools.json: expected a JSON list of OpenAI tool schemas"),
        ("n-zero", "must be at least 1, got 0"),
        ("same-id", "seeds.jsonl:2: dialogue_id"),
        ("text-parts-ok", None),
    ],
)
def test_synth_names_what_is_wrong_with_a_users_files(dataset_dir, s4_seeds, tmp_path, capsys, setup, error):
    seeds = [dict(r) for r in s4_seeds]
    tools = dataset_dir / "tools.json"
    n = "3"
    if setup == "tools-object":
        tools = tmp_path / "tools.json"
        tools.write_text('{"tools": []}')
    elif setup == "n-zero":
        n = "0"
    elif setup == "same-id":
        seeds[1] = {**seeds[1], "dialogue_id": seeds[0]["dialogue_id"]}
    else:  # a user message's content as OpenAI text parts: read as its text
        first = seeds[0]["messages"][0]
        parts = [
            {"type": "text", "text": first["content"][:4]},
            {"type": "text", "text": first["content"][4:]},
        ]
        seeds[0] = {**seeds[0], "messages": [{**first, "content": parts}, *seeds[0]["messages"][1:]]}
    write_jsonl(tmp_path / "seeds.jsonl", seeds)
    argv = ["synth", str(tmp_path / "seeds.jsonl"), "--n", n, "--out", str(tmp_path / "o"), "--quiet"]
    argv += ["-p", f"synth.tools_path={tools}", "-p", f"validate.test_path={dataset_dir / 'test.jsonl'}"]
    rc = cli.main(argv)
    err = capsys.readouterr().err
    if error is None:
        assert rc == 0 and len(read_jsonl(tmp_path / "o" / "synthetic.jsonl")) == 3
    else:
        assert rc == 2 and err.startswith("tft synth: error: ") and error in err and "Traceback" not in err


def _offer_reply(messages: list[dict], result: list) -> str:
    """The reply right after the failed booking whose result is `result` (it offers another time)."""
    k = next(i for i, m in enumerate(messages) if m["content"] == json.dumps(result))
    return json.loads(messages[k + 1]["tool_calls"][0]["function"]["arguments"])["message"]


def _bookings(messages: list[dict]) -> list[tuple[dict, list]]:
    """Each ReserveRestaurant call of a conversation with the result that answered it."""
    evs = events({"messages": messages})
    return [
        (ev["args"], evs[i + 1]["results"])
        for i, ev in enumerate(evs)
        if ev.get("name") == "ReserveRestaurant"
    ]


def test_bank_reads_how_often_the_seeds_bookings_fail(bank, s1_sample):
    """The seeds' reservation outcomes, and the shares the teacher draws from, with a prior of ten
    attempts at the real pool's rates (S4's five seeds book five times and never fail)."""
    assert bank.bookings == ["success"] * 5
    assert bank.booking_shares() == pytest.approx((3 / 15, 4 / 10))
    s1 = Bank.from_seeds(s1_sample)
    # counted here from the words (SGD's results are noisy: "booked" beside another time happens):
    # a reply saying sorry after a reservation is a failure; one that also asks to try again offers
    sorry = re.compile(r"sorry|unable|couldn't|could not|not able|unsuccessful|apolog|can't get", re.I)
    again = re.compile(r"\b(shall|should|would|can|do you want|how about)\b.*\?", re.I)
    fails = offers = attempts = 0
    for row in s1_sample:
        evs = events(row)
        for i, ev in enumerate(evs[:-2]):
            if ev.get("name") == "ReserveRestaurant" and evs[i + 2]["kind"] == "say":
                res, reply = evs[i + 1]["results"], evs[i + 2]["text"]
                attempts += 1
                fails += bool(sorry.search(reply))
                offers += bool(sorry.search(reply) and res and again.search(reply))
    failed = [b for b in s1.bookings if b != "success"]
    assert abs(len(failed) - fails) <= 5 and abs(failed.count("failure_offer") - offers) <= 5


def test_rules_teacher_fails_and_offers_bookings_as_often_as_its_seeds(dataset_dir, s1_sample):
    """A failed booking either ends in "anything else?" and the user asks again, or (SGD's other way)
    its result holds another time, the reply offers it, the user agrees and the call books it. Drawn
    once per conversation, the walks tried for the length window keep the seeds' rate (drawn per
    walk, the window dropped most failures: 11% of S1's conversations retried, against 29% here)."""
    from tft_utils.core.io import read_json
    from tft_utils.domain.mentions import times_said
    from tft_utils.synth.grounding import check_grounding
    from tft_utils.synth.pipeline import Teacher

    teacher = Teacher(s1_sample, read_json(dataset_dir / "tools.json"), params_for(dataset_dir))
    fail, offer = teacher.bank.booking_shares()
    rows = [rec["row"] for rec in teacher.make(list(range(300)), progress=False) if "row" in rec]
    kinds = []
    for row in rows:
        books = _bookings(row["messages"])
        if len(books) == 1:
            kinds.append("success")
            continue
        (asked, res), (booked, _) = books
        kinds.append("failure_offer" if res else "failure")
        assert asked["time"] != booked["time"] and check_grounding(row).valid
        if res:  # the result holds the time offered, the reply says it, the user's next words agree
            reply = _offer_reply(row["messages"], res)
            k = next(i for i, m in enumerate(row["messages"]) if m["content"] == json.dumps(res))
            h, mm = map(int, booked["time"].split(":"))
            assert res[0]["time"] == booked["time"] and times_said(reply) & {h * 60 + mm, h * 60 + mm - 720}
            assert len(re.findall(CLOCK, reply, re.I)) == 1, reply
            assert row["messages"][k + 3]["tool_calls"][0]["function"]["name"] == "ReserveRestaurant"
    failed = [k for k in kinds if k != "success"]
    assert abs(len(failed) / len(rows) - fail) < 0.07, (len(failed), fail)
    assert abs(failed.count("failure_offer") / len(failed) - offer) < 0.15


def test_only_a_reply_that_offers_one_time_is_an_offer(dataset_dir):
    """Real failure replies of the pool, de-lexicalised: an offer names one time and offers it; "no
    availability for {time}. Anything else?" or two times (the failed one and the offer) are not, since
    re-filled with the offered time they would call it unavailable."""
    import random

    from tft_utils.synth.flow import Budget, Walk
    from tft_utils.synth.rules import OFFER, offers_time

    assert offers_time("Sorry, they are fully booked. Shall i try {party_size} people {date} at {time}?")
    assert offers_time("Sorry, reservation failed. If you want I can make one for {party_size} at {time}.")
    assert offers_time("I was unable to make that reservation. Is {date} at {time} for {party_size} okay?")
    assert not offers_time(
        "Sorry but there is no availability for {time} at {restaurant_name}. Anything else?"
    )
    assert not offers_time("I was unable to book {date} at {time}. Would you like me to try {time}?")
    assert not offers_time("Please confirm you want to make the reservation at {time} on {date}.")
    # the whole pool's bank holds such templates; the teacher never offers with them
    pool = Bank.from_seeds(read_jsonl(dataset_dir / "train_pool.jsonl"))
    texts = [t["text"] for t in pool.templates["failure"] if "{time}" in t["text"]]
    assert any(not offers_time(t) for t in texts) and sum(map(offers_time, texts)) >= 20
    offered = 0
    for k in range(120):
        walk = Walk(
            pool, random.Random(k), "medium", "synth/x", sorted(pool.cuisines), booking="failure_offer"
        )
        try:
            msgs = walk.run()
        except Budget:
            continue
        (_, res), (booked, _) = _bookings(msgs)[:2]
        reply = _offer_reply(msgs, res)
        offered += 1
        assert len(re.findall(CLOCK, reply, re.I)) == 1, reply
        assert OFFER.search(reply), reply
    assert offered >= 90


def test_a_call_the_corruption_put_in_place_of_a_reply_is_no_failed_booking(dataset_dir, sgd_dir):
    """S2 replaces replies by service calls; a ReserveRestaurant put there has an empty result and the next
    reply says nothing of a failure ("Anything else?"). The seeds' failure rate counts only replies that say
    a booking failed (S2's 90 cleaned seeds: 55 of 117 attempts counted before, 0.46; these left out, 0.27)."""
    from tft_utils.data.scenarios import make_scenario
    from tft_utils.domain.replies import _reply_claims
    from tft_utils.synth.rules import FAILURE

    traces, _ = make_scenario("s2", dataset_dir, sgd_dir, params_for(dataset_dir))
    bank = Bank.from_seeds(traces)
    said = silent = 0
    for row in traces:
        evs = events(row)
        for i, ev in enumerate(evs[:-2]):
            if ev.get("name") == "ReserveRestaurant" and evs[i + 2]["kind"] == "say":
                text = evs[i + 2]["text"]
                words = _reply_claims(text) == "failed" or bool(FAILURE.search(text))
                said += words
                silent += not words and not evs[i + 1]["results"]
    failed = [b for b in bank.bookings if b != "success"]
    # the raw S2 traces: 185 silent empty results, 52 replies saying a booking failed, 50 counted
    assert silent > 100 and said - 5 <= len(failed) <= said, (silent, said, len(failed))
