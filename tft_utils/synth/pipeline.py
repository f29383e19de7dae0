"""Synthesize (STUDY §4.3): the teacher writes new conversations, one per call, from the cleaned
seed traces plus the task description and tool schema, spread over four mutation topics that match
the test length distribution; each candidate is validated (`validate.py`) as it arrives, until the
target count is reached.

Teachers (`roles.teacher`):
- `rules` (offline default): the dialogue-flow simulator of `flow.py` over templates and a
  catalogue mined from the seeds (`rules.py`); candidate i is a pure function of (seed, i).
- an endpoint: our own versioned prompt (PROMPT_VERSION) with two seed conversations as examples;
  the reply is parsed strictly (`parse_teacher`), a bad reply is a rejected candidate, not a crash.

Resuming: every candidate is appended to DIR/candidates.jsonl the moment it exists; a rerun replays
that file through the validator (cheap, deterministic) and generates only the candidates after it.
LLM calls are also in the shared call cache, so even a lost candidates file costs no new request.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from tft_utils.core.io import DataError, numbered_jsonl, read_json, write_json, write_jsonl
from tft_utils.domain.calls import call_of, read_results
from tft_utils.domain.messages import checked_id, checked_messages, unique_ids
from tft_utils.domain.tools import RESPOND, SERVICE, load_tools
from tft_utils.synth.validate import Validator, llm_judge_requests, parse_judge

PROMPT_VERSION = "synth-teacher-v1"
TOPIC_TEXT = {
    "short": "a short conversation: the user asks for a restaurant search early, then books a table",
    "short_medium": "a short-to-medium conversation: a search or a direct booking request, then the booking",
    "medium": "a medium conversation with a search, maybe a question about the restaurant, and a reservation",
    "long": "a long conversation with the full flow: search, alternatives, questions about the restaurant, "
    "changes to the booking details, the reservation (it may fail once and be retried), and a goodbye",
}
TEACHER_PROMPT = """You write realistic, new training conversations for a restaurant assistant.
Task: {task}
The assistant only acts through tool calls. Tools (OpenAI schema):
{tools}
Conventions (follow them exactly, as in the examples):
- FindRestaurants / ReserveRestaurant arguments are strings: time "13:15" (24 h), date "2019-03-01" (today is
  2019-03-01), party_size "2", price_range one of inexpensive/moderate/expensive/very expensive, booleans "True"/"False".
- After every service call comes a "tool" message with the JSON list of results (restaurants with city, cuisine,
  has_live_music, phone_number, price_range, restaurant_name, serves_alcohol, street_address; a booking result also
  has date, party_size, time; [] when nothing was found or the booking failed), then the assistant replies with
  respond_to_user.
- The assistant confirms booking details before ReserveRestaurant; every value it uses was said by the user or
  returned by a tool.
Output JSON only, no prose: {{"messages": [{{"role": "user", "content": "..."}},
 {{"role": "assistant", "name": "<tool name>", "arguments": {{...}}}}, {{"role": "tool", "content": [...]}}, ...]}}"""


def seed_rows(path: str | Path, n_seeds: int, seed: int) -> list[dict]:
    """The seed traces (cleaned traces, `tft clean`'s kept.jsonl); a sample of n_seeds when more."""
    numbered = list(numbered_jsonl(path, required=("dialogue_id", "messages")))
    if not numbered:
        raise DataError(f"{path}: no seed traces")
    unique_ids(numbered, path)  # seeds are sampled and validated by id
    rows = [{**r, "messages": checked_messages(r["messages"], f"{path}:{line}")} for line, r in numbered]
    if len(rows) > n_seeds:
        rows = sorted(random.Random(seed).sample(rows, n_seeds), key=lambda r: r["dialogue_id"])
    return rows


def _test_rows(path) -> list[dict]:
    """The test conversations the leakage check compares against, checked like the seeds."""
    numbered = list(numbered_jsonl(path, required=("dialogue_id", "messages")))
    for line, r in numbered:
        checked_id(r, f"{path}:{line}")
    return [{**r, "messages": checked_messages(r["messages"], f"{path}:{line}")} for line, r in numbered]


def topic_of(i: int, topics: dict, seed: int) -> str:
    names = sorted(topics)
    return random.Random(f"{seed}:topic:{i}").choices(names, [topics[t]["weight"] for t in names])[0]


# ---------------------------------------------------------------- LLM teacher


def teacher_request(
    seeds: list[dict], tools: list[dict], topic: str, window: tuple, i: int, k: int
) -> list[dict]:
    """One prompt: task + schema + k seed conversations (rotating with i) + the topic to write."""
    examples = [seeds[(i * k + j) % len(seeds)] for j in range(min(k, len(seeds)))]
    shown = "\n\n".join(json.dumps(compact(r["messages"]), ensure_ascii=False) for r in examples)
    user = (
        f"Example conversations (do not copy them; new names, cities, times and wording):\n{shown}\n\n"
        f"Write {TOPIC_TEXT[topic]}, with {window[0]}-{window[1]} turns (user utterances plus assistant "
        f"respond_to_user messages). Conversation number {i}: pick your own values."
    )
    task = "find restaurants by city and cuisine and reserve tables for the user"
    return [
        {"role": "system", "content": TEACHER_PROMPT.format(task=task, tools=json.dumps(tools))},
        {"role": "user", "content": user},
    ]


def compact(messages: list[dict]) -> list[dict]:
    """Trace messages -> the compact form the prompt asks for (name/arguments, tool results)."""
    out, after_call = [], False
    for m in messages:
        if m["role"] == "assistant":
            name, args = call_of(m)
            out.append({"role": "assistant", "name": name, "arguments": args})
            after_call = name != RESPOND
        elif after_call and (results := read_results(m)) is not None:
            out.append({"role": "tool", "content": results})
            after_call = False
        else:  # a user turn; also after a call no tool answered (an S2 reply corrupted into a call)
            out.append({"role": "user", "content": m["content"]})
            after_call = False
    return out


def parse_teacher(text: str | None, dialogue_id: str) -> dict:
    """A teacher reply -> trace row; DataError (the rejection reason) when it is not exactly the format."""
    from tft_utils.llm.backends import parse_json_object

    obj = parse_json_object(text)
    if not obj or not isinstance(obj.get("messages"), list) or not obj["messages"]:
        raise DataError("no JSON object with a non-empty 'messages' list")
    messages = []
    for j, m in enumerate(obj["messages"]):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "user" and isinstance(m.get("content"), str):
            messages.append({"role": "user", "content": m["content"]})
        elif (
            role == "tool"
            and isinstance(m.get("content"), list)
            and all(isinstance(r, dict) for r in m["content"])
        ):
            messages.append(
                {"role": "user", "content": json.dumps([dict(sorted(r.items())) for r in m["content"]])}
            )
        elif role == "assistant" and isinstance(m.get("name"), str) and isinstance(m.get("arguments"), dict):
            cid = "call_" + hashlib.sha256(f"{dialogue_id}:{j}".encode()).hexdigest()[:12]
            fn = {"name": m["name"], "arguments": json.dumps(m["arguments"], ensure_ascii=False)}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": cid, "type": "function", "function": fn}],
                }
            )
        else:
            raise DataError(f"message {j}: not a user/tool/assistant message of the required form")
    return {"dialogue_id": dialogue_id, "service": SERVICE, "messages": messages}


# ---------------------------------------------------------------- the stage


class Teacher:
    """Makes candidate i (rules simulator or LLM call), for a batch of indices at once."""

    def __init__(self, seeds: list[dict], tools: list[dict], params: dict, client=None):
        from tft_utils.synth.rules import Bank

        self.seeds, self.tools, self.params, self.client = seeds, tools, params, client
        self.cfg, self.seed = params["synth"], params["run"]["seed"]
        self.bank = Bank.from_seeds(seeds)
        enum = [
            v
            for t in tools
            for k, p in t["function"]["parameters"].get("properties", {}).items()
            if k == "cuisine"
            for v in p.get("enum", [])
        ]
        self.cuisines = sorted(self.bank.cuisines | set(enum)) or ["American"]

    def window(self, topic: str) -> tuple[int, int]:
        t = self.cfg["topics"][topic]
        return t["min_turns"], t["max_turns"]

    def make(self, indices: list[int], progress: bool) -> list[dict]:
        """Candidate records: {index, dialogue_id, topic, row | error, meta}."""
        from tft_utils.synth.flow import Budget, simulate

        out, topics = [], {i: topic_of(i, self.cfg["topics"], self.seed) for i in indices}
        if self.client is not None:
            reqs = [
                teacher_request(
                    self.seeds,
                    self.tools,
                    topics[i],
                    self.window(topics[i]),
                    i,
                    self.cfg["examples_per_prompt"],
                )
                for i in indices
            ]
            replies = self.client.complete_many(reqs, "synth", PROMPT_VERSION, progress=progress)
        for k, i in enumerate(indices):
            did, rec = f"synth/{i:06d}", {"index": i, "dialogue_id": f"synth/{i:06d}", "topic": topics[i]}
            try:
                if self.client is not None:
                    if replies[k].error:
                        raise DataError(f"teacher call failed: {replies[k].error}")
                    rec["row"], rec["meta"] = (
                        parse_teacher(replies[k].text, did),
                        {"teacher": self.client.model},
                    )
                else:
                    window, key = self.window(topics[i]), f"{self.seed}:{i}"
                    msgs, meta = simulate(
                        self.bank, topics[i], window, key, self.cuisines, did, mint=self.cfg["mint_share"]
                    )
                    rec["row"] = {"dialogue_id": did, "service": SERVICE, "messages": msgs}
                    rec["meta"] = {"teacher": "rules", **meta}
            except (DataError, Budget) as e:
                rec["error"] = str(e)
            out.append(rec)
        return out


OUTPUTS = ("synthetic.jsonl", "synthetic_meta.jsonl", "rejected.jsonl", "synth_stats.json", "ledger.json")


def fingerprint(seeds: list[dict], test: list[dict], tools: list[dict], params: dict, n: int) -> dict:
    """What a synthetic set is made of: the seed conversations, the test set (leakage check), the
    tools, the synth and validation params, the teacher's and judge's roles, n and the run's seed."""
    from tft_utils.core import fresh

    roles = {k: params["roles"][k] for k in ("teacher", "judge")}
    return fresh.make(
        "synth",
        {
            "synth": {**params["synth"], "n": n},
            "validate": params["validate"],
            "roles": roles,
            "backends": params["backends"],
        },
        seed=params["run"]["seed"],
        code=fresh.code_of("synth/pipeline.py"),  # this module and what it imports
        data={"seeds": seeds, "test": test, "tools": tools},
    )


def _replay(path: Path) -> list[dict]:
    """Candidates written by an earlier run; a last line cut by a crash is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def synthesize(seeds_path, out, params: dict, n: int | None = None, progress: bool = True) -> dict:
    """Write OUT/synthetic.jsonl, rejected.jsonl, synthetic_meta.jsonl, synth_stats.json; return the stats."""
    from tqdm.auto import tqdm

    from tft_utils.core import fresh
    from tft_utils.llm.backends import LEDGER, make_client

    cfg, vcfg, seed = params["synth"], params["validate"], params["run"]["seed"]
    n = int(cfg["n"] if n is None else n)
    if n < 1:
        raise DataError(f"synthesize: the number of conversations wanted must be at least 1, got {n}")
    out = Path(out)
    seeds = seed_rows(seeds_path, cfg["n_seeds"], seed)
    tools = load_tools(cfg["tools_path"]) if cfg["tools_path"] else []
    if not tools:
        raise DataError(
            "synth.tools_path is not set: the teacher needs the tool schema (tools.json of `tft data`)"
        )
    test_path = vcfg["test_path"]
    if not test_path:
        raise DataError(
            "validate.test_path is not set: the leakage check needs the dataset's test.jsonl "
            "(set it to 'none' to skip the check; the stats record it)"
        )
    test = [] if test_path == "none" else _test_rows(test_path)
    teacher = Teacher(seeds, tools, params, make_client(params, "teacher"))
    judge = make_client(params, "judge")
    validator = Validator(seeds, test, tools, vcfg)
    out.mkdir(parents=True, exist_ok=True)
    cand_path = out / "candidates.jsonl"
    fp = fingerprint(seeds, test, tools, params, n)
    if fresh.reuse(out, fp, fresh.forced(params)) and all((out / f).exists() for f in OUTPUTS):
        return read_json(out / "synth_stats.json")
    # candidates of other seeds/params are dropped (not resumed); the same ones are replayed
    fresh.begin(out, fp, leftovers=[cand_path, out / "synth_state.json", *(out / f for f in OUTPUTS)])
    accepted, rejected, meta, examined, unparseable = [], [], [], [0], [0]
    bar = tqdm(total=n, desc="synth (validated)", disable=not progress)

    def take(recs: list[dict]) -> None:
        rows = [r.get("row") for r in recs]
        scores = [None] * len(recs)
        if judge is not None:
            ok = [k for k, r in enumerate(rows) if r is not None]
            replies = judge.complete_many(
                llm_judge_requests([rows[k] for k in ok], tools),
                "synth-judge",
                "synth-judge-v1",
                progress=False,
            )
            for k, c in zip(ok, replies, strict=True):
                scores[k] = parse_judge(c.text)  # the answer, never the reasoning; None: rules stand in
                unparseable[0] += scores[k] is None
        for rec, row, score in zip(recs, rows, scores, strict=True):
            if len(accepted) >= n:
                return
            v = validator.check(row, rec.get("error"), score)
            examined[0] += 1
            info = {
                "dialogue_id": rec["dialogue_id"],
                "topic": rec["topic"],
                **(rec.get("meta") or {}),
                **{k: v[k] for k in ("judge", "turns", "messages", "nearest") if k in v},
            }
            if v["ok"]:
                accepted.append(row)
                meta.append(info)
                bar.update(1)
            else:
                rejected.append({**info, "reasons": v["reasons"], "trace": row})

    done = _replay(cand_path)
    take(done)
    limit = int(n * cfg["max_candidates_factor"])
    i = len(done)
    with open(cand_path, "a", encoding="utf-8") as f:
        while len(accepted) < n and i < limit:
            batch = list(range(i, min(i + cfg["batch"], limit)))
            recs = teacher.make(batch, progress=False)
            for rec in recs:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            take(recs)
            i = batch[-1] + 1
    bar.close()
    write_jsonl(out / "synthetic.jsonl", accepted)
    write_jsonl(out / "synthetic_meta.jsonl", meta)
    write_jsonl(out / "rejected.jsonl", rejected)
    stats = {**summary(accepted, meta, rejected, teacher, n, examined[0], test_path), **validator.summary()}
    # LLM judge replies without a score (an error, no answer, garbage): counted; the rules judge stood in
    stats["judge_unparseable"] = None if judge is None else unparseable[0]
    from tft_utils.core.provenance import provenance

    write_json(out / "synth_stats.json", {**stats, "provenance": provenance(params)})
    LEDGER.save(out / "ledger.json")
    fresh.stamp(out, fp)
    return stats


def summary(accepted, meta, rejected, teacher: Teacher, n: int, candidates: int, test_path) -> dict:
    from collections import Counter

    reasons = Counter(r["reasons"][0].split(":")[0] for r in rejected)
    return {
        "target": n,
        "validated": len(accepted),
        "candidates": candidates,
        "rejected": len(rejected),
        "rejection_reasons": dict(reasons),
        "topics": dict(Counter(m["topic"] for m in meta)),
        "seeds": len(teacher.seeds),
        "teacher": "rules" if teacher.client is None else teacher.client.model,
        "bank": teacher.bank.summary(),
        "leakage_check": str(test_path),
        "max_jaccard": {
            k: max((m["nearest"][k]["jaccard"] for m in meta), default=0.0)
            for k in ("seed", "test", "synthetic")
        },
        "builtin_share": round(
            sum(m.get("builtin_templates", 0) for m in meta)
            / max(1, sum(m.get("builtin_templates", 0) + m.get("seed_templates", 0) for m in meta)),
            4,
        ),
    }


def _cmd(args) -> int:
    from tft_utils.core.params import params_from_args

    params = params_from_args(args)
    stats = synthesize(args.seeds, args.out, params, n=args.n, progress=not args.quiet)
    print(
        json.dumps(
            {
                **{
                    k: stats[k]
                    for k in ("validated", "candidates", "rejection_reasons", "topics", "max_jaccard")
                },
                "grounding_rate": stats["grounding"]["rate"],
                "test_near_duplicates_dropped": stats["leakage"]["test_near_duplicates_dropped"],
            }
        )
    )
    return 0 if stats["validated"] >= stats["target"] else 1


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser(
        "synth", help="teacher-written synthetic conversations from seed traces, validated"
    )
    p.add_argument("seeds", help="seed traces (JSONL, e.g. DIR/kept.jsonl of `tft clean`)")
    p.add_argument("--n", type=int, default=None, help="validated conversations wanted (default: synth.n)")
    p.add_argument("--out", required=True, help="output folder (synthetic.jsonl, rejected.jsonl, ...)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_args(p)
    p.set_defaults(func=_cmd)
