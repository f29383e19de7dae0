"""`tft plan`'s printed table (the same numbers as plan.json, summed over scenarios)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tft_utils.plan.estimate import Plan


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def _usd(v) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def render(plan: Plan) -> str:
    t = plan.totals()
    a = plan.assumptions
    lines = [
        f"tft plan: profile {plan.profile}, scenarios {','.join(plan.scenarios)}, pipelines "
        f"{','.join(plan.pipelines)} (data {a.get('data')}; cleaning {a.get('cleaning')})",
        "",
        f"LLM calls (tokens: {a.get('tokens')}, reasoning {a.get('reasoning_tokens_per_call')} per call; "
        "max calls: the most the stage can make; cached: in the call cache now or asked earlier in this run)",
    ]
    head = (
        "stage",
        "endpoint",
        "basis",
        "calls",
        "max calls",
        "cached",
        "to send",
        "in tok",
        "out tok",
        "out max",
        "cost $",
        "spend $",
    )
    body = [
        (
            f"{r['notebook']} {r['stage']}",
            r["endpoint"],
            r["basis"],
            _n(r["calls"]),
            _n(r["calls_max"]),
            _n(r["cached"] + r["repeats"]),
            _n(r["to_send"]),
            _n(r["input_tokens"]),
            _n(r["output_tokens"]),
            _n(r["output_max"]),
            _usd(r["cost_usd"]),
            _usd(r["spend_usd"]),
        )
        for r in plan.by_stage()
    ]
    priced = any(r.cost_usd is not None for r in plan.llm)
    cost = (_usd(t["cost_usd"]) if priced else "n/a") + ("+?" if priced and t["unpriced_endpoints"] else "")
    spend = (_usd(t["spend_usd"]) if priced else "n/a") + ("+?" if priced and t["unpriced_to_send"] else "")
    body.append(
        (
            "total",
            "",
            "",
            _n(t["calls"]),
            _n(t["calls_max"]),
            _n(t["cached"] + t["repeats"]),
            _n(t["to_send"]),
            _n(t["input_tokens"]),
            _n(t["output_tokens"]),
            "",
            cost,
            spend,
        )
    )
    lines += _table(head, body) if plan.llm else ["(none: every role is `rules`)"]
    if t["unpriced_endpoints"]:
        lines.append(
            f"no price for {', '.join(t['unpriced_endpoints'])}: set backends.endpoints.<name>.price_in_per_mtok "
            "and price_out_per_mtok (USD per million tokens)"
        )
    notes = sorted({f"{r.stage}: {r.note}" for r in plan.llm if r.note})
    lines += [f"  {n}" for n in notes]
    lines += [
        "",
        f"Student ({a.get('student')}, device {a.get('device')}; {a.get('train_tokens_per_s')} tokens/s training "
        f"({a.get('tool_base_tokens_per_s')} the tool base), "
        f"{a.get('predict_tokens_per_s')} tokens/s predicting, {a.get('throughput')})",
    ]
    head = (
        "scenario",
        "arm",
        "seeds",
        "trained",
        "predicted",
        "conversations",
        "steps",
        "train tokens",
        "predict tokens",
        "hours left",
    )
    body = [
        (
            s.scenario,
            s.arm,
            str(s.seeds),
            str(s.trained),
            str(s.predicted),
            _n(s.conversations),
            _n(s.steps),
            _n(s.train_tokens),
            _n(s.predict_tokens),
            f"{s.train_hours + s.predict_hours:.2f}",
        )
        for s in plan.students
    ]
    body.append(
        (
            "total",
            "",
            "",
            "",
            "",
            "",
            "",
            _n(t["train_tokens"]),
            _n(t["predict_tokens"]),
            f"{t['student_hours']:.2f}",
        )
    )
    lines += _table(head, body)
    lines += [f"  {n}" for n in dict.fromkeys(f"{s.arm}: {s.note}" for s in plan.students if s.note)]
    if any(s.trained or s.predicted for s in plan.students):
        lines.append(
            "  trained / predicted: seeds whose model / predictions the run keeps (current); the hours are what is left"
        )
    note = _jobs_note(a, t["machine_hours"])
    if note:
        lines.append(f"  {note}")
    return "\n".join(lines)


def _jobs_note(a: dict, machine_hours: float | None) -> str:
    """With run.jobs > 1: the hours are each model's at the rate measured one at a time; side by side the
    machine does more an hour (by the factors `tft plan --measure` measured, when it did). '' otherwise."""
    jobs = a.get("jobs") or 1
    if jobs <= 1:
        return ""
    f = a.get("side_by_side")
    if f and machine_hours is not None:
        return (
            f"run.jobs {jobs}: {jobs} models at a time, measured here {f['train_factor']:.2f}x the training and "
            f"{f['predict_factor']:.2f}x the predicting an hour: the machine's {machine_hours:.2f} h"
        )
    return (
        f"run.jobs {jobs}: {jobs} models at a time, so the machine takes less than these hours (1.1-1.3x less "
        "with 2 on a 2-core AMD EPYC; tft plan --measure measures it here)"
    )


def summary(plan: Plan) -> str:
    """One line for the start of a run that calls no endpoint: the students' work left and its hours."""
    t, a = plan.totals(), plan.assumptions
    students = [s for s in plan.students if s.arm in ("direct", "tft")]
    models = [s for s in plan.students if s.arm != "tool base"]  # the students and the untuned base
    to_train = sum(s.seeds - s.trained for s in students)
    tokens = sum(s.train_tokens * (s.seeds - s.trained) / s.seeds for s in students if s.seeds)
    builds_base = any(s.arm == "tool base" and s.train_tokens for s in plan.students)
    return (
        # the run's stages 02-04, loading and scoring come on top: S1 teach runs on the EPYC, 11.5 of 12.8 min
        f"plan: the students' work left, {t['student_hours']:.2f} h of training and predicting (the stages "
        f"around them add ~10%): {to_train} of "
        f"{sum(s.seeds for s in students)} students to train ({_n(round(tokens))} tokens"
        f"{', and the tool base first' if builds_base else ''}), "
        f"{sum(s.seeds - s.predicted for s in models)} of {sum(s.seeds for s in models)} models to predict; "
        f"{a.get('train_tokens_per_s')} tokens/s training, {a.get('throughput')} (`tft plan` prints the table)"
        + (f"; {note}" if (note := _jobs_note(a, t["machine_hours"])) else "")
    )


def _table(head: tuple, body: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]

    def fmt(r):
        return "  ".join(
            str(v).ljust(w) if i < 3 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )

    return [fmt(head), *[fmt(r) for r in body]]
