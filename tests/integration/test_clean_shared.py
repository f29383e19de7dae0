"""`tft clean` on scenarios S2, S3, S5 (seed 0, rules backends) built from ../shared/sgd, scored against
the known noise with clean.report (the issue's done-when numbers), plus the blindness check: the stages
see only the traces, so opaque ids and a shuffled order change none of their decisions."""

import hashlib
import random

import pytest

from tft_utils.clean.pipeline import run_clean
from tft_utils.clean.report import targets, turn_outcomes
from tft_utils.core.io import read_jsonl, write_jsonl
from tft_utils.core.params import load_params
from tft_utils.data.scenarios import write_scenario


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def cleaned(dataset_dir, sgd_dir, tmp_path_factory):
    """scenario -> {dir, traces, scores, turns, ..., targets}; each scenario built and cleaned once."""
    pool = read_jsonl(dataset_dir / "train_pool.jsonl")
    done = {}

    def get(scenario: str) -> dict:
        if scenario not in done:
            params = load_params("cpu", scenario, [])
            sdir = tmp_path_factory.mktemp(scenario)
            write_scenario(scenario, dataset_dir, sgd_dir, sdir, params, seed=0)
            run_clean(sdir / "traces.jsonl", sdir / "clean", params, log=_quiet)
            out = {"dir": sdir, "params": params, "traces": read_jsonl(sdir / "traces.jsonl")}
            out["corruptions"] = read_jsonl(sdir / "corruptions.jsonl")
            for name in ("scores", "turns", "kept", "dropped", "align"):
                out[name] = read_jsonl(sdir / "clean" / f"{name}.jsonl")
            df = turn_outcomes(out["traces"], out["corruptions"], pool, out["scores"], out["turns"])
            out["targets"] = targets(df)
            done[scenario] = out
        return done[scenario]

    return get


def test_s2_noisy_labels(cleaned):
    t = cleaned("s2")["targets"]
    assert t["turns_used"] >= 1000, t  # enough kept, unmasked turns for the shares to mean something
    assert t["fn_same_share"] >= 0.95, t  # measured 0.994
    assert t["service_params_same_share"] >= 0.90, t  # measured 0.924
    assert t["foreign_caught_share"] >= 0.90, t  # measured 0.934


def test_s3_schema_drift(cleaned):
    t = cleaned("s3")["targets"]
    assert t["canonical_right_share_of_kept_turns"] >= 0.90, t  # measured 0.96
    assert t["kept_share_Restaurants_1"] >= 0.9 and t["kept_share_Restaurants_2"] >= 0.9, t
    # Every kept turn ends with the target's names (masked turns keep theirs and are not trained on).
    names = {"FindRestaurants", "ReserveRestaurant", "respond_to_user"}
    finals = [r["final"] for r in cleaned("s3")["turns"] if not r["masked"]]
    assert {f["name"] for f in finals} <= names


def test_s5_trace_mixing(cleaned):
    t = cleaned("s5")["targets"]
    assert 1 - t["kept_share_Hotels_1"] >= 0.95, t  # hotel traces dropped; measured 1.0
    assert t["kept_share_Restaurants_1"] >= 0.90, t  # restaurant traces kept; measured 1.0
    dropped = cleaned("s5")["dropped"]
    assert all(d["drop_reason"] for d in dropped)


def _decisions(run: dict, to_original=lambda did: did) -> dict:
    kept = {to_original(s["dialogue_id"]): s["kept"] for s in run["scores"]}
    scores = {
        to_original(s["dialogue_id"]): (s["relevance"], s["coherence"], s["reason"]) for s in run["scores"]
    }
    turns = {
        (to_original(r["dialogue_id"]), r["turn"]): (r["final"], r["masked"], r["decision"], r["proposals"])
        for r in run["turns"]
    }
    messages = {to_original(t["dialogue_id"]): t["messages"] for t in run["kept"]}
    renamed = {to_original(r["dialogue_id"]): (r["renamed"], r["dropped_keys"]) for r in run["align"]}
    return {"kept": kept, "scores": scores, "turns": turns, "messages": messages, "renamed": renamed}


def test_blind_to_ids_and_order(cleaned, tmp_path):
    """The S2 traces under opaque ids, in another order, without the `service` field, in a folder
    with no corruptions.jsonl beside them: every decision is the same after mapping the ids back."""
    s2 = cleaned("s2")
    traces = [dict(t) for t in s2["traces"]]
    random.Random(1).shuffle(traces)
    back = {}
    for t in traces:
        opaque = "x" + hashlib.sha256(t["dialogue_id"].encode()).hexdigest()[:12]
        back[opaque] = t.pop("dialogue_id")
        t.pop("service", None)
        t["dialogue_id"] = opaque
    assert len(back) == len(traces) and [t["dialogue_id"] for t in traces] != sorted(back)
    write_jsonl(tmp_path / "traces.jsonl", traces)
    run_clean(tmp_path / "traces.jsonl", tmp_path / "clean", s2["params"], log=_quiet)
    blind = {
        name: read_jsonl(tmp_path / "clean" / f"{name}.jsonl")
        for name in ("scores", "turns", "kept", "align")
    }

    ours, theirs = _decisions(s2), _decisions(blind, back.__getitem__)
    assert theirs["kept"] == ours["kept"]
    assert sum(ours["kept"].values()) == len(s2["kept"]) > 100
    assert theirs["scores"] == ours["scores"]
    assert theirs["renamed"] == ours["renamed"]
    assert theirs["turns"].keys() == ours["turns"].keys()
    differ = [k for k in ours["turns"] if ours["turns"][k] != theirs["turns"][k]]
    assert not differ, f"{len(differ)} turns decided differently, e.g. {differ[:3]}"
    assert theirs["messages"] == ours["messages"]  # the written calls and masked flags
