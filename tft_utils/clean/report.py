"""Score the cleaning stages against the known noise (STUDY §8) - for notebooks and tests ONLY.

This is the one place that reads a scenario's corruptions.jsonl and the clean source (the `tft data`
training pool); the stages themselves (filter, align, relabel, clean) never import this module.
Expected call of each assistant turn:
- a Restaurants_1 trace: the pool's call at that turn (S2, S3 renamed, S5);
- a Restaurants_2 trace (S3): its own call with the R2 slots put onto the target's by the SGD schema's
  meaning (location -> city, category -> cuisine, number_of_seats -> party_size, price words onto the
  target enum; outdoor seating / vegetarian flags have no target slot and are left out);
- a hotel trace (S5) has none: it should be dropped.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

from tft_utils.clean.relabel import canon
from tft_utils.data.figures import conversation_text
from tft_utils.domain.calls import read_call
from tft_utils.domain.tools import RESPOND, SERVICE
from tft_utils.domain.values import PRICE_SYNONYMS

R2_TO_TARGET = {
    "restaurant_name": "restaurant_name",
    "location": "city",
    "category": "cuisine",
    "time": "time",
    "date": "date",
    "number_of_seats": "party_size",
    "price_range": "price_range",
}


def _canon_call(call: dict | None):
    if call is None:
        return None
    return call["name"], tuple(sorted((k, canon(v)) for k, v in call["arguments"].items()))


def expected_calls(traces: list[dict], corruptions: list[dict], pool: list[dict]) -> dict[tuple, dict]:
    """{(dialogue_id, turn): the clean call in the target schema} for every scorable assistant turn."""
    src = {t["dialogue_id"]: t for t in pool}
    before = {(r["dialogue_id"], r["turn"]): r["before"] for r in corruptions if r.get("turn") is not None}
    out = {}
    for t in traces:
        did, service = t["dialogue_id"], t.get("service")
        for i, m in enumerate(t["messages"]):
            if m.get("role") != "assistant":
                continue
            if service == SERVICE and did in src:
                out[(did, i)] = read_call(src[did]["messages"][i])
            elif service == "Restaurants_2":
                call = before.get((did, i)) or read_call(m)
                if call["name"] != RESPOND:
                    args = {
                        R2_TO_TARGET[k]: PRICE_SYNONYMS.get(v, v)
                        for k, v in call["arguments"].items()
                        if k in R2_TO_TARGET
                    }
                    call = {"name": call["name"], "arguments": args}
                out[(did, i)] = call
    return out


def turn_outcomes(traces, corruptions, pool, scores, turns) -> pd.DataFrame:
    """One row per assistant turn of the scenario: kind (corruption or 'clean'), kept trace?, masked?,
    original/final/expected function, final == expected (restored when the turn was corrupted)."""
    expected = expected_calls(traces, corruptions, pool)
    kept = {s["dialogue_id"]: s["kept"] for s in scores}
    kinds = {(r["dialogue_id"], r["turn"]): r["kind"] for r in corruptions if r.get("turn") is not None}
    by_turn = {(r["dialogue_id"], r["turn"]): r for r in turns}
    rows = []
    for t in traces:
        for i, m in enumerate(t["messages"]):
            if m.get("role") != "assistant":
                continue
            key, r = (t["dialogue_id"], i), by_turn.get((t["dialogue_id"], i))
            exp = expected.get(key)
            final = r["final"] if r else None
            rows.append(
                {
                    "dialogue_id": t["dialogue_id"],
                    "turn": i,
                    "service": t.get("service"),
                    "kind": kinds.get(key, "clean"),
                    "trace_kept": kept.get(t["dialogue_id"], False),
                    "masked": bool(r and r["masked"]),
                    "decision": r["decision"] if r else "dropped",
                    "original_fn": (read_call(m) or {}).get("name"),
                    "final_fn": final["name"] if final else None,
                    "expected_fn": exp["name"] if exp else None,
                    "fn_ok": bool(final and exp and final["name"] == exp["name"]),
                    "call_ok": bool(final and exp and _canon_call(final) == _canon_call(exp)),
                }
            )
    return pd.DataFrame(rows)


def per_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Per corruption kind: turns, dropped with their trace, masked, restored (final == clean), left wrong."""
    g = df.assign(
        dropped=~df.trace_kept,
        masked_kept=df.trace_kept & df.masked,
        restored=df.trace_kept & ~df.masked & df.call_ok,
        wrong=df.trace_kept & ~df.masked & ~df.call_ok,
    )
    t = g.groupby("kind")[["dropped", "masked_kept", "restored", "wrong"]].sum()
    t.insert(0, "turns", g.groupby("kind").size())
    t["caught_share"] = ((t.dropped + t.masked_kept + t.restored) / t.turns).round(4)
    # a clean turn has nothing to catch: it is kept as it is or lost with its trace (dropped)
    t.loc[t.index == "clean", "caught_share"] = float("nan")
    return t.rename(columns={"masked_kept": "masked"})


def targets(df: pd.DataFrame) -> dict:
    """The issue's done-when numbers for whichever scenario `df` is."""
    used = df[df.trace_kept & ~df.masked & df.expected_fn.notna()]
    svc = used[used.expected_fn != RESPOND]
    out = {
        "turns": len(df),
        "turns_in_kept_traces": int(df.trace_kept.sum()),
        "turns_used": len(used),
        "fn_same_share": round(used.fn_ok.mean(), 4) if len(used) else None,
        "service_params_same_share": round(svc.call_ok.mean(), 4) if len(svc) else None,
        "canonical_right_share_of_kept_turns": round(
            df[df.trace_kept].pipe(lambda d: (~d.masked & d.call_ok).mean()), 4
        ),
        "masked_share_of_kept_turns": round(df[df.trace_kept].masked.mean(), 4),
    }
    if (df.kind == "foreign_domain").any():
        fd = df[df.kind == "foreign_domain"]
        out["foreign_caught_share"] = round((~fd.trace_kept | fd.masked | fd.call_ok).mean(), 4)
    services = df.groupby("dialogue_id").service.first()
    kept = df.groupby("dialogue_id").trace_kept.first()
    for svc_name in sorted(services.unique(), key=str):
        out[f"kept_share_{svc_name}"] = round(kept[services == svc_name].mean(), 4)
    # plain floats, not np.float64(...) in the notebook's output
    return {k: v if v is None or isinstance(v, int) else float(v) for k, v in out.items()}


def confusion(df: pd.DataFrame) -> pd.DataFrame:
    """Function before (logged) -> after (final, or 'masked') over turns of kept traces."""
    k = df[df.trace_kept]
    after = k.final_fn.where(~k.masked, "masked")
    return pd.crosstab(k.original_fn, after, rownames=["logged"], colnames=["final"])


def score_distribution(scores: list[dict], traces: list[dict], corruptions: list[dict]) -> pd.DataFrame:
    """Filter scores per trace with its group (service; S2: clean / corrupted) for the figures."""
    touched = Counter(r["dialogue_id"] for r in corruptions)
    service = {t["dialogue_id"]: t.get("service") for t in traces}
    rows = defaultdict(list)
    for s in scores:
        did = s["dialogue_id"]
        group = (
            service.get(did) if len(set(service.values())) > 1 else ("corrupted" if touched[did] else "clean")
        )
        for k in ("relevance", "coherence", "kept"):
            rows[k].append(s[k])
        rows["group"].append(group)
    return pd.DataFrame(rows)


def kind_record(table: pd.DataFrame) -> dict:
    """per_kind() as {kind: counts and shares} for 03_results.json (read by the report's stage effects)."""
    out = {}
    for kind, r in table.iterrows():
        n = max(1, int(r.turns))
        out[kind] = {
            "turns": int(r.turns),
            **{c: int(r[c]) for c in ("dropped", "masked", "restored", "wrong")},
            **{f"{c}_share": round(int(r[c]) / n, 4) for c in ("dropped", "masked", "restored", "wrong")},
        }
    return out


def example_turn(turns: list[dict], kept: list[dict]) -> str:
    """The first turn the committee relabelled (else the first it masked), its record and its conversation with
    the turn marked `>>`; a line saying so when there is neither."""
    changed = next((r for r in turns if r["decision"] == "relabelled"), None)
    changed = changed or next((r for r in turns if r["masked"]), None)
    if changed is None:
        return "the committee relabelled and masked no turn"
    trace = next(t for t in kept if t["dialogue_id"] == changed["dialogue_id"])
    record = {k: changed[k] for k in ("dialogue_id", "turn", "original", "proposals", "final", "masked")}
    return f"{record}\n{conversation_text(trace, mark=changed['turn'])}"


def mapping_table(align_rows: list[dict]) -> pd.DataFrame:
    """Every foreign name the aligner mapped onto the target schema, with how many traces used it and
    one line of its evidence; dropped keys are listed with target '(dropped)'."""
    rows: dict[tuple, dict] = {}
    for a in align_rows:
        pairs = [(k, v) for k, v in a["renamed"].items()] + [
            (k, "(dropped)") for k in a.get("dropped_keys", [])
        ]
        for src, dst in pairs:
            r = rows.setdefault((src, dst), {"foreign": src, "target": dst, "traces": 0, "evidence": ""})
            r["traces"] += 1
            r["evidence"] = r["evidence"] or a.get("evidence", {}).get(src, "")  # keyed by the foreign name
    cols = ["foreign", "target", "traces", "evidence"]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    return df.sort_values(["target", "traces"], ascending=[True, False]).reset_index(drop=True)


def plot_scores(dist: pd.DataFrame):
    """Relevance and coherence per trace, by group, with kept vs dropped."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    t = dist.assign(outcome=dist.kept.map({True: "kept", False: "dropped"}))
    # one column order and colour per (group, outcome) in both panels, so the one legend reads for both
    stacks = sorted(set(zip(t.group.astype(str), t.outcome, strict=True)))
    colors = plt.get_cmap("tab10").colors
    for ax, col in zip(axes, ("relevance", "coherence"), strict=False):
        c = t.assign(group=t.group.astype(str)).groupby([col, "group", "outcome"]).size()
        c = c.unstack(["group", "outcome"], fill_value=0).reindex(columns=stacks, fill_value=0)
        c = c.reindex(range(1, 6), fill_value=0)
        c.plot.bar(ax=ax, stacked=True, width=0.8, legend=ax is axes[-1], color=colors[: len(stacks)])
        ax.set_title(f"{col} (1-5)")
        ax.set_xlabel("score")
        ax.set_ylabel("traces")
    if axes[-1].get_legend():
        labels = [f"{g}, {o}" for g, o in stacks]
        axes[-1].legend(labels=labels, fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


def plot_confusion(conf: pd.DataFrame):
    """Relabel changes: logged function (rows) -> final function or masked (columns), kept traces."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    size = (1.2 + 1.3 * max(1, conf.shape[1]), 0.8 + 0.45 * max(1, conf.shape[0]))
    # constrained: with long function names tight_layout gave up with a warning
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    sns.heatmap(conf, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title("committee relabel: logged -> final")
    return fig


def plot_per_kind(table: pd.DataFrame, scenario: str):
    """Per corruption kind: what happened to its turns (dropped with the trace, masked, restored, wrong)."""
    import matplotlib.pyplot as plt

    cols = ["dropped", "masked", "restored", "wrong"]
    shares = table[cols].div(table.turns.clip(lower=1), axis=0)
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.4 * len(shares)))
    shares.plot.barh(ax=ax, stacked=True, color=["#9e9e9e", "#64b5f6", "#66bb6a", "#ef5350"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the kind's assistant turns")
    ax.set_title(f"{scenario}: what filter + committee did with each kind of turn")
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig
