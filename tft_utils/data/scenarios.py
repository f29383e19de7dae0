"""The five scenarios of STUDY §3, each applied to the training pool (the test set never changes).

Every change is seeded and recorded per turn in `corruptions.jsonl` (dialogue_id, turn, kind, before,
after), so the cleaning stages can be scored against the known noise. The stages never read that file.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path

from tft_utils.core.io import DataError, write_json, write_jsonl
from tft_utils.data.sgd import load_dialogues, load_schema
from tft_utils.data.traces import dialogue_to_trace, load_traces, read_ids, trace_to_pairs
from tft_utils.domain.calls import call_of, read_call, write_call
from tft_utils.domain.tools import FIND, RESERVE, RESPOND, SERVICE, SERVICE_TOOLS, TOOLS

HOTEL_TO_R1 = {"SearchHotel": FIND, "ReserveHotel": RESERVE}


def _assistant_turns(trace: dict) -> list[int]:
    return [i for i, m in enumerate(trace["messages"]) if m.get("role") == "assistant"]


def _pick(rng: random.Random, weights: dict) -> str:
    kinds = [k for k, w in weights.items() if w > 0]
    return rng.choices(kinds, [weights[k] for k in kinds])[0]


# --------------------------------------------------------------------------- S2 noisy labels


def noisy_labels(pool: list[dict], foreign: list[dict], cfg: dict, rng: random.Random):
    """S2: keep `clean_fraction` of traces clean; corrupt each assistant call of the rest with p."""
    traces = copy.deepcopy(pool)
    # Donors: other traces' service calls and replies, and replies from a foreign domain (hotels).
    service_calls = [
        (t["dialogue_id"], read_call(m))
        for t in pool
        for m in t["messages"]
        if m.get("role") == "assistant" and call_of(m)[0] != RESPOND
    ]
    replies = [
        call_of(m)[1]["message"]
        for t in pool
        for m in t["messages"]
        if m.get("role") == "assistant" and call_of(m)[0] == RESPOND
    ]
    foreign_replies = [
        call_of(m)[1]["message"]
        for t in foreign
        for m in t["messages"]
        if m.get("role") == "assistant" and call_of(m)[0] == RESPOND
    ]
    n_clean = round(cfg["clean_fraction"] * len(traces))  # 0.1 x 327 = 33 clean traces
    clean_ids = {t["dialogue_id"] for t in rng.sample(traces, n_clean)}
    rows = []
    for t in traces:
        if t["dialogue_id"] in clean_ids:
            continue
        for i in _assistant_turns(t):
            if rng.random() >= cfg["p_corrupt"]:
                continue
            msg = t["messages"][i]
            before = read_call(msg)
            if before["name"] != RESPOND:
                kind = _pick(rng, cfg["service_kinds"])
                if kind == "swap_tool":  # the other service tool, same arguments
                    other = (
                        next(n for n in SERVICE_TOOLS if n != before["name"])
                        if before["name"] in SERVICE_TOOLS
                        else SERVICE_TOOLS[0]
                    )
                    write_call(msg, {"name": other, "arguments": before["arguments"]})
                elif kind == "swap_params":  # another call's parameters (of another trace)
                    donors = [
                        c
                        for did, c in service_calls
                        if did != t["dialogue_id"] and c["arguments"] != before["arguments"]
                    ]
                    write_call(msg, {"name": before["name"], "arguments": rng.choice(donors)["arguments"]})
                else:  # to_respond: a reply taken from elsewhere in the pool
                    write_call(msg, {"name": RESPOND, "arguments": {"message": rng.choice(replies)}})
            else:
                kind = _pick(rng, cfg["respond_kinds"])
                if kind == "to_service_call":
                    donor = rng.choice([c for did, c in service_calls if did != t["dialogue_id"]])
                    write_call(msg, {"name": donor["name"], "arguments": donor["arguments"]})
                else:  # foreign_domain: a reply from another service's dialogues
                    write_call(msg, {"name": RESPOND, "arguments": {"message": rng.choice(foreign_replies)}})
            rows.append(
                {
                    "dialogue_id": t["dialogue_id"],
                    "turn": i,
                    "kind": kind,
                    "before": before,
                    "after": read_call(msg),
                }
            )
    return traces, rows


# --------------------------------------------------------------------------- S3 schema drift


def _renames(sgd_dir, service: str) -> tuple[dict, dict]:
    """{intent: [names in v1..v5]}, {slot: [names in v1..v5]} from SGD-X (same order as the original)."""
    base = load_schema(sgd_dir, service)
    variants = [load_schema(sgd_dir, service, v) for v in range(1, 6)]
    intents = {i["name"]: [v["intents"][k]["name"] for v in variants] for k, i in enumerate(base["intents"])}
    slots = {s["name"]: [v["slots"][k]["name"] for v in variants] for k, s in enumerate(base["slots"])}
    return intents, slots


def _rename_trace(trace: dict, fn_map: dict, slot_map: dict) -> list[dict]:
    """Rename functions and slot names in calls and in tool results; return corruption rows."""
    rows = []
    for i, m in enumerate(trace["messages"]):
        if m.get("role") == "assistant":
            name, args = call_of(m)
            if name == RESPOND:
                continue
            before = {"name": name, "arguments": args}
            write_call(
                m,
                {
                    "name": fn_map.get(name, name),
                    "arguments": {slot_map.get(k, k): v for k, v in args.items()},
                },
            )
            if read_call(m) != before:
                rows.append(
                    {
                        "dialogue_id": trace["dialogue_id"],
                        "turn": i,
                        "kind": "rename",
                        "before": before,
                        "after": read_call(m),
                    }
                )
        elif (
            m.get("role") == "user"
            and m["content"].startswith("[")
            and i
            and trace["messages"][i - 1].get("role") == "assistant"
        ):
            results = json.loads(m["content"])
            m["content"] = json.dumps(
                [dict(sorted((slot_map.get(k, k), v) for k, v in r.items())) for r in results]
            )
    return rows


def schema_drift(pool: list[dict], r2: list[dict], sgd_dir, cfg: dict, rng: random.Random):
    """S3: R2 traces under SGD-X R2 function names; R1 traces renamed per trace (name by name)."""
    r1_fn, r1_slots = _renames(sgd_dir, SERVICE)
    r2_fn, _ = _renames(sgd_dir, "Restaurants_2")
    if len(r2) < cfg["n_r2"] or len(pool) < cfg["n_r1"]:
        raise DataError(
            f"S3 needs {cfg['n_r2']} Restaurants_2 and {cfg['n_r1']} Restaurants_1 traces, "
            f"found {len(r2)} and {len(pool)}"
        )
    r2_sel = copy.deepcopy(rng.sample(r2, cfg["n_r2"]))
    r1_sel = copy.deepcopy(rng.sample(pool, cfg["n_r1"]))
    n_clean = round(cfg["clean_fraction"] * len(r1_sel))  # 0.1 x 146 = 15 traces keep R1 names
    clean_ids = {t["dialogue_id"] for t in rng.sample(r1_sel, n_clean)}
    rows = []
    for t in r2_sel:  # R2 keeps its own slots; its intents take one SGD-X name per trace
        v = rng.randrange(5)
        rows += _rename_trace(t, {k: names[v] for k, names in r2_fn.items()}, {})
    for t in r1_sel:
        if t["dialogue_id"] in clean_ids:
            continue
        # Each function and each slot independently picks one of the five human renamings.
        fn_map = {k: rng.choice(names) for k, names in r1_fn.items()}
        slot_map = {k: rng.choice(names) for k, names in r1_slots.items()}
        rows += _rename_trace(t, fn_map, slot_map)
    traces = r2_sel + r1_sel
    rng.shuffle(traces)
    return traces, rows


# --------------------------------------------------------------------------- S5 trace mixing


def trace_mixing(pool: list[dict], hotels: list[dict], cfg: dict, rng: random.Random):
    """S5: hotel traces with R1 function names and messages shuffled, mixed with some R1 traces."""
    if len(hotels) < cfg["n_hotel"]:
        raise DataError(f"S5 needs {cfg['n_hotel']} Hotels_1 traces, found {len(hotels)}")
    hotel_sel = copy.deepcopy(rng.sample(hotels, cfg["n_hotel"]))
    rows = []
    for t in hotel_sel:
        renamed = _rename_trace(t, HOTEL_TO_R1, {})
        order = list(range(len(t["messages"])))
        rng.shuffle(order)
        t["messages"] = [t["messages"][k] for k in order]
        # each renamed call's turn where the shuffle put it (its index in the trace as written)
        moved = {old: new for new, old in enumerate(order)}
        rows += [dict(r, kind="hotel_renamed", turn=moved[r["turn"]]) for r in renamed]
        rows.append(
            {
                "dialogue_id": t["dialogue_id"],
                "turn": None,
                "kind": "shuffled",
                "before": None,
                "after": order,
            }
        )
    traces = hotel_sel + copy.deepcopy(rng.sample(pool, cfg["n_r1"]))
    rng.shuffle(traces)
    return traces, rows


# --------------------------------------------------------------------------- driver


def _service_traces(sgd_dir, service: str) -> list[dict]:
    return [dialogue_to_trace(d) for d in load_dialogues(sgd_dir, service)]


def make_scenario(scenario: str, data_dir, sgd_dir, params: dict, seed: int = 0):
    """Return (traces, corruption rows) of a scenario built from `data_dir/train_pool.jsonl`."""
    pool = load_traces(Path(data_dir) / "train_pool.jsonl")
    cfg = params["scenario"]
    rng = random.Random(f"{scenario}:{seed}")
    if scenario == "s1":
        return copy.deepcopy(pool), []
    if scenario == "s2":
        return noisy_labels(pool, _service_traces(sgd_dir, cfg["s2"]["foreign_service"]), cfg["s2"], rng)
    if scenario == "s3":
        return schema_drift(pool, _service_traces(sgd_dir, "Restaurants_2"), sgd_dir, cfg["s3"], rng)
    if scenario == "s4":
        ids_file = cfg["s4"]["ids"]
        if ids_file == "random":
            return copy.deepcopy(rng.sample(pool, cfg["s4"]["n"])), []
        ids = read_ids(ids_file or "s4_low_data_dialogue_ids.txt")
        by_id = {t["dialogue_id"]: t for t in pool}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(f"S4 ids not in {data_dir}/train_pool.jsonl: {', '.join(missing)}")
        return [copy.deepcopy(by_id[i]) for i in ids], []
    if scenario == "s5":
        return trace_mixing(pool, _service_traces(sgd_dir, "Hotels_1"), cfg["s5"], rng)
    raise DataError(f"unknown scenario '{scenario}' (choose from s1..s5)")


def scenario_stats(scenario: str, traces: list[dict], rows: list[dict]) -> dict:
    calls = [call_of(m) for t in traces for m in t["messages"] if m.get("role") == "assistant"]
    changed_turns = {(r["dialogue_id"], r["turn"]) for r in rows if r["turn"] is not None}
    touched = {r["dialogue_id"] for r in rows}
    fn_names = Counter(n for n, _ in calls)
    param_names = Counter(k for n, a in calls if n != RESPOND for k in a)
    canonical = set(TOOLS)
    only_canonical = sum(
        all(call_of(m)[0] in canonical for m in t["messages"] if m.get("role") == "assistant") for t in traces
    )
    return {
        "scenario": scenario,
        "traces": len(traces),
        "assistant_calls": len(calls),
        "changed_calls": len(changed_turns),
        "changed_share": round(len(changed_turns) / max(1, len(calls)), 4),
        "traces_untouched": len(traces) - len(touched),
        "corruption_kinds": dict(Counter(r["kind"] for r in rows)),
        "services": dict(Counter(t.get("service") for t in traces)),
        "function_names": len(fn_names),
        "parameter_names": len(param_names),
        "traces_only_canonical_names": only_canonical,
        "function_name_counts": dict(fn_names.most_common()),
    }


def write_scenario(scenario: str, data_dir, sgd_dir, out, params: dict, seed: int = 0) -> dict:
    traces, rows = make_scenario(scenario, data_dir, sgd_dir, params, seed)
    out = Path(out)
    write_jsonl(out / "traces.jsonl", traces)
    write_jsonl(out / "corruptions.jsonl", rows)
    write_jsonl(out / "direct_train.jsonl", [p for t in traces for p in trace_to_pairs(t)])
    stats = dict(scenario_stats(scenario, traces, rows), seed=seed)
    write_json(out / "stats.json", stats)
    return stats


def add_cli(subparsers) -> None:
    from tft_utils.core.params import add_params_args

    p = subparsers.add_parser(
        "scenario", help="build a scenario's training traces (s1..s5) from `tft data` output"
    )
    p.add_argument("scenario", choices=("s1", "s2", "s3", "s4", "s5"))
    p.add_argument("--data", required=True, help="output folder of `tft data`")
    p.add_argument("--sgd-dir", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True)
    add_params_args(p)
    p.set_defaults(func=_cmd_scenario)


def _cmd_scenario(args) -> int:
    from tft_utils.core.params import params_from_args
    from tft_utils.data.sgd import resolve_sgd_dir

    params = params_from_args(args, scenario=args.scenario)
    sgd_dir = resolve_sgd_dir(args.sgd_dir or params["data"]["sgd_dir"], params["data"]["sgd_url"])
    seed = params["run"]["seed"] if args.seed is None else args.seed
    stats = write_scenario(args.scenario, args.data, sgd_dir, args.out, params, seed)
    print(json.dumps({k: v for k, v in stats.items() if k != "function_name_counts"}, indent=2))
    return 0
