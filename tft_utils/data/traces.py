"""SGD dialogues -> tool-calling traces, the train/test split and the per-turn test pairs (STUDY §2).

A dialogue becomes one trace in OpenAI chat format. The assistant speaks only through tool calls:
`respond_to_user(message)` for what it says, a service call (`FindRestaurants`, `ReserveRestaurant`)
where the SGD system frame made one, followed by a user message carrying the JSON list of results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from importlib import resources
from pathlib import Path

from tft_utils.core.io import DataError, read_jsonl, write_json, write_jsonl
from tft_utils.data.sgd import load_dialogues, load_schema
from tft_utils.domain.calls import assistant_call, call_of
from tft_utils.domain.tools import RESPOND, SERVICE
from tft_utils.resources import resource

# --------------------------------------------------------------------------- messages


def call_id(dialogue_id: str, index: int) -> str:
    """Deterministic `call_<12 hex>` so a rerun writes byte-identical files."""
    return "call_" + hashlib.sha1(f"{dialogue_id}:{index}".encode()).hexdigest()[:12]


def results_message(results: list[dict]) -> dict:
    # Keys sorted, json.dumps default separators: exactly what the published traces carry.
    return {"role": "user", "content": json.dumps([dict(sorted(r.items())) for r in results])}


def dialogue_to_trace(dlg: dict) -> dict:
    """One SGD dialogue -> `{"dialogue_id", "service", "messages"}`."""
    did = dlg["dialogue_id"]
    messages: list[dict] = []

    def add_call(name, args):
        messages.append(assistant_call(name, args, call_id(did, len(messages))))

    for t, turn in enumerate(dlg["turns"]):
        speaker, utterance = turn.get("speaker"), turn.get("utterance")
        if speaker not in ("USER", "SYSTEM") or not isinstance(utterance, str):
            raise DataError(f"{dlg.get('_source', '?')}: dialogue {did} turn {t}: bad speaker or utterance")
        if speaker == "USER":
            messages.append({"role": "user", "content": utterance})
            continue
        frame = next((f for f in turn.get("frames", []) if "service_call" in f), None)
        if frame is not None:
            sc = frame["service_call"]
            add_call(sc["method"], dict(sc["parameters"]))
            messages.append(results_message(frame.get("service_results") or []))
        add_call(RESPOND, {"message": utterance})
    return {"dialogue_id": did, "service": dlg["services"][0], "messages": messages}


def question_messages(messages: list[dict]) -> list[dict]:
    """Messages as question/answer files carry them: tool-call arguments as objects, not strings."""
    out = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            name, args = call_of(m)
            tc = m["tool_calls"][0]
            out.append(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": tc.get("id"),
                            "type": "function",
                            "function": {"name": name, "arguments": args},
                        }
                    ],
                }
            )
        else:
            out.append({"role": m["role"], "content": m.get("content")})
    return out


def trace_to_pairs(trace: dict) -> list[dict]:
    """Expand a trace at every assistant turn: question = messages before it, answer = its call."""
    qmsgs = question_messages(trace["messages"])
    pairs = []
    for i, m in enumerate(trace["messages"]):
        if m.get("role") != "assistant":
            continue
        name, args = call_of(m)
        pairs.append(
            {
                "dialogue_id": trace["dialogue_id"],
                "turn": i,
                "question": json.dumps(qmsgs[:i], ensure_ascii=False),
                "answer": json.dumps({"name": name, "parameters": args}, ensure_ascii=False),
            }
        )
    return pairs


# --------------------------------------------------------------------------- tools


def tools_from_schema(schema: dict) -> list[dict]:
    """OpenAI tool schemas for a service's intents (+ respond_to_user), from SGD schema.json."""
    slots = {s["name"]: s for s in schema["slots"]}
    tools = []
    for intent in schema["intents"]:
        props = {}
        for name in list(intent["required_slots"]) + list(intent.get("optional_slots", {})):
            slot = slots[name]
            prop = {"type": "string", "description": slot["description"]}
            if slot["is_categorical"] and slot["possible_values"]:
                prop["enum"] = list(slot["possible_values"])
            props[name] = prop
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": intent["name"],
                    "description": intent["description"],
                    "parameters": {
                        "type": "object",
                        "properties": props,
                        "required": list(intent["required_slots"]),
                    },
                },
            }
        )
    tools.append(
        {
            "type": "function",
            "function": {
                "name": RESPOND,
                "description": "Send a message to the user (ask, inform, confirm, offer).",
                "parameters": {
                    "type": "object",
                    "properties": {"message": {"type": "string", "description": "What to say to the user"}},
                    "required": ["message"],
                },
            },
        }
    )
    return tools


# --------------------------------------------------------------------------- split


def read_ids(path_or_name: str | os.PathLike) -> list[str]:
    """Dialogue ids, one per line, from a file or from a file shipped in tft_utils/resources."""
    path = Path(path_or_name)
    text = path.read_text() if path.exists() else resource(str(path_or_name)).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _user_text(messages: list[dict]) -> str:
    return "\n".join(m.get("content") or "" for m in messages if m.get("role") == "user")


def match_ids(traces: list[dict], reference: list[dict]) -> list[str]:
    """Give each published conversation the id of the reference trace it was made from.

    The published file carries no ids and its row order is not the id list's, and 9 rows were
    hand-edited, so rows are matched by the word overlap of their user text (best unique match first).
    """

    def words(t):
        return set(_user_text(t["messages"]).lower().split())

    ref = {t["dialogue_id"]: words(t) for t in reference}
    scores = []
    for i, t in enumerate(traces):
        w = words(t)
        for did, rw in ref.items():  # Jaccard of user-text words: edits change a few words, not most
            scores.append((len(w & rw) / max(1, len(w | rw)), i, did))
    ids: dict[int, str] = {}
    for _ratio, i, did in sorted(scores, reverse=True):
        if i not in ids and did not in ids.values():
            ids[i] = did
    return [ids[i] for i in range(len(traces))]


def _published_rows(src: str) -> tuple[list[dict], str]:
    """The publishers' rows from a file or a URL (downloaded to a temporary file first)."""
    if src.startswith(("http://", "https://")):
        import tempfile
        import urllib.request

        with (
            urllib.request.urlopen(src, timeout=60) as resp,
            tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f,
        ):
            f.write(resp.read())
        src = f.name
    rows = read_jsonl(src, required=("question", "answer"))
    return rows, src


def load_published_test(path_or_url: str | os.PathLike | None, reference: list[dict]) -> list[dict]:
    """The publishers' test file (one row per conversation, last turn as answer) as traces,
    each named after the `reference` trace (our conversion of the test ids) it matches."""
    with contextlib.ExitStack() as stack:  # the shipped file as a real path while it is read
        if not path_or_url:
            path_or_url = stack.enter_context(resources.as_file(resource("published_test.jsonl")))
        rows, src = _published_rows(str(path_or_url))
    if len(rows) != len(reference):
        raise DataError(f"{src}: {len(rows)} rows, expected {len(reference)} (one per test dialogue)")
    traces = []
    for lineno, row in enumerate(rows, 1):
        try:
            msgs = json.loads(row["question"])
            ans = json.loads(row["answer"])
            msgs.append(assistant_call(ans["name"], ans["parameters"], ""))
            for m in msgs:  # arguments as JSON strings, like every other trace file
                if m.get("tool_calls"):
                    name, args = call_of(m)
                    m["tool_calls"][0]["function"]["arguments"] = json.dumps(args, ensure_ascii=False)
        except (json.JSONDecodeError, KeyError, TypeError, IndexError, DataError) as e:
            raise DataError(f"{src}:{lineno}: not a conversation with a final tool call ({e})") from e
        traces.append({"dialogue_id": None, "service": SERVICE, "messages": msgs})
    for t, did in zip(traces, match_ids(traces, reference), strict=True):
        t["dialogue_id"] = did
        t["messages"][-1]["tool_calls"][0]["id"] = call_id(did, len(t["messages"]) - 1)
    order = {t["dialogue_id"]: i for i, t in enumerate(reference)}
    return sorted(traces, key=lambda t: order[t["dialogue_id"]])


def build_dataset(
    sgd_dir: str | os.PathLike,
    out: str | os.PathLike,
    service: str = SERVICE,
    test_set: str = "sgd",
    published_test: str | None = None,
    test_ids: str | None = None,
    excluded_ids: str | None = None,
) -> dict:
    """Write train_pool.jsonl, test.jsonl, test_pairs.jsonl, tools.json under `out`; return stats."""
    out = Path(out)
    dialogues = load_dialogues(sgd_dir, service, splits=("train",))
    if not dialogues:
        raise DataError(f"{sgd_dir}: no single-service '{service}' dialogues in train/")
    traces = {d["dialogue_id"]: dialogue_to_trace(d) for d in dialogues}
    test = read_ids(test_ids or "test_dialogue_ids.txt")
    excluded = [] if excluded_ids == "none" else read_ids(excluded_ids or "excluded_dialogue_ids.txt")
    for did in test + excluded:
        if did not in traces:
            raise DataError(
                f"dialogue id '{did}' (test/excluded list) is not a {service} dialogue in {sgd_dir}"
            )
    held = set(test) | set(excluded)
    pool = [t for did, t in traces.items() if did not in held]
    test_traces = [traces[did] for did in test]
    if test_set == "published":
        test_traces = load_published_test(published_test, test_traces)
    elif test_set != "sgd":
        raise DataError(f"data.test_set must be 'sgd' or 'published', got '{test_set}'")
    pairs = [p for t in test_traces for p in trace_to_pairs(t)]
    tools = tools_from_schema(load_schema(sgd_dir, service))
    write_jsonl(out / "train_pool.jsonl", pool)
    write_jsonl(out / "test.jsonl", test_traces)
    write_jsonl(out / "test_pairs.jsonl", pairs)
    write_json(out / "tools.json", tools)
    stats = {
        "service": service,
        "test_set": test_set,
        "dialogues": len(traces),
        "train_pool": len(pool),
        "test": len(test_traces),
        "test_pairs": len(pairs),
        "excluded": len(excluded),
    }
    write_json(out / "data_stats.json", stats)
    return stats


def load_traces(path: str | os.PathLike) -> list[dict]:
    return read_jsonl(path, required=("dialogue_id", "messages"))


def as_datasets(out: str | os.PathLike):
    """The files of `build_dataset` as Hugging Face `datasets.Dataset`s (messages kept as JSON text)."""
    from datasets import Dataset, DatasetDict

    out = Path(out)

    def flat(rows):
        return [{**r, "messages": json.dumps(r["messages"])} if "messages" in r else r for r in rows]

    return DatasetDict(
        {
            "train_pool": Dataset.from_list(flat(read_jsonl(out / "train_pool.jsonl"))),
            "test": Dataset.from_list(flat(read_jsonl(out / "test.jsonl"))),
            "test_pairs": Dataset.from_list(read_jsonl(out / "test_pairs.jsonl")),
        }
    )


# --------------------------------------------------------------------------- CLI


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser("data", help="SGD dialogues -> train pool, test set, test pairs, tool schemas")
    p.add_argument("--sgd-dir", default=None, help="SGD folder (default: $TFT_SGD_DIR, data/sgd, download)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--test-set", choices=("sgd", "published"), default=None)
    p.add_argument("--published-test", default=None, help="path or URL of published_test.jsonl")
    add_params_args(p)
    p.set_defaults(func=_cmd_data)


def _cmd_data(args) -> int:
    from tft_utils.core.params import params_from_args
    from tft_utils.data.sgd import resolve_sgd_dir

    params = params_from_args(args)
    d = params["data"]
    sgd_dir = resolve_sgd_dir(args.sgd_dir or d["sgd_dir"], d["sgd_url"])
    stats = build_dataset(
        sgd_dir,
        args.out,
        d["service"],
        args.test_set or d["test_set"],
        args.published_test or d["published_test"],
        d["test_ids"],
        d["excluded_ids"],
    )
    print(json.dumps(stats, indent=2))
    return 0
