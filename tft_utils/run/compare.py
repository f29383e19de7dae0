"""How far two runs of the study agree (`tft compare A B`): the same students, predictions and verdicts, or not.

Each side is a run folder (`outputs/<run>`) or a folder `tft carry save` wrote (`docs/runs/<name>`: records and
predictions gzipped, no weights). For every student both hold: its training record side by side (tokens, final
loss, CPU) and, where both keep weights, whether they are the same bytes; for every finished predictions file
both hold: the share of test pairs predicted identically and with the same function; for every scenario both
scored (`results.json`): the arms' scores, TFT - Direct and the verdict. As a yardstick, seeds 0 and 1 of each
arm within each run are compared the same way.

One CPU kind and one seed give the same bytes (a rerun, another path, another session); bf16 sums differ between
CPU kinds (AMX against AVX512-BF16), so there a student is another draw. Over the default study's 20 students an
AMX Xeon and an AMD Zen 5 predicted 48% of the test pairs identically (97% with the same function), where two
seeds of one arm within one run agree on 25% (93%): a CPU kind moves a student less than a seed does, and the
seed-aware intervals resample seeds (docs/runs/study-f16770b against docs/runs/study-zen5).
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

from tft_utils.core import fresh
from tft_utils.core.io import DataError, iter_jsonl
from tft_utils.domain.calls import parse_tool_call


def predictions(folder: Path) -> dict[str, Path]:
    """'s1/direct-seed0' (or 'base/<name>') -> its predictions file (plain, or gzipped when carried); finished
    ones only, a fingerprint beside them."""
    out = {}
    for f in sorted(folder.glob("*/predictions/*.jsonl*")) + sorted(folder.glob("base/*.jsonl*")):
        name = f.name.removesuffix(".gz")
        if name.endswith(".jsonl") and not name.endswith(".scored.jsonl") and fresh.read(f.with_name(name)):
            where = "base" if f.parent.name == "base" else f.parent.parent.name
            out[f"{where}/{name.removesuffix('.jsonl')}"] = f
    return out


def rows(path: Path) -> dict[tuple, str]:
    """(dialogue_id, turn) -> the raw prediction."""
    need = ("dialogue_id", "turn", "prediction")
    return {(str(r["dialogue_id"]), r["turn"]): r["prediction"] for r in iter_jsonl(path, need)}


def function(prediction: str) -> str:
    call = parse_tool_call(prediction)
    return call.name if call else "(unparseable)"


def compare_predictions(ra: dict, rb: dict) -> dict:
    """Pairs in both files' `rows`, in one only, predicted identically, and with the same function."""
    both = sorted(set(ra) & set(rb))
    return {
        "pairs": len(both),
        "only_one": len(set(ra) ^ set(rb)),
        "identical": sum(ra[k] == rb[k] for k in both),
        "same_function": sum(function(ra[k]) == function(rb[k]) for k in both),
    }


STATS = ("train_stats.json", "train_stats.json.gz")  # in a run; gzipped in a carried folder


def train_stats(model: Path) -> dict:
    """A student's training record."""
    f = next(model / n for n in STATS if (model / n).exists())
    with gzip.open(f, "rt") if f.suffix == ".gz" else f.open() as fh:
        return json.load(fh)


def students(folder: Path) -> dict[str, Path]:
    models = sorted(folder.glob("*/models/*"))
    return {f"{d.parent.parent.name}/{d.name}": d for d in models if any((d / n).exists() for n in STATS)}


def _cpu(stats: dict) -> str:
    cpu = stats.get("machine", {}).get("cpu", {})
    return cpu.get("model", "?") + (" (AMX)" if cpu.get("isa", {}).get("amx_bf16") else "")


def compare_student(a: Path, b: Path) -> dict:
    sa, sb = train_stats(a), train_stats(b)
    wa, wb = a / "model.safetensors", b / "model.safetensors"
    return {
        "tokens": [sa.get("tokens"), sb.get("tokens")],
        "final_loss": [sa.get("final_loss"), sb.get("final_loss")],
        "cpu": [_cpu(s) for s in (sa, sb)],
        "same_weights": (fresh.file_hash(wa) == fresh.file_hash(wb)) if wa.exists() and wb.exists() else None,
    }


def verdicts(folder: Path, metric: str) -> dict[str, dict]:
    """Per scored scenario: each arm's mean `metric`, TFT - Direct with its interval, the verdict."""
    out = {}
    for f in sorted(folder.glob("*/results.json")):
        r = json.loads(f.read_text())
        if metric not in r.get("paired", {}):
            continue
        p = r["paired"][metric]
        arms = {arm: r["metrics"][arm][metric]["mean"] for arm in ("tft", "direct") if arm in r["metrics"]}
        out[f.parent.name] = {
            **arms,
            "diff": p["diff"],
            "low": p["ci_low"],
            "high": p["ci_high"],
            "verdict": p["verdict"],
        }
    return out


def compare(a: str | Path, b: str | Path, metric: str = "llm_as_a_judge") -> dict:
    """Everything both runs hold, compared (see the module's text)."""
    a, b = Path(a), Path(b)
    for d in (a, b):
        if not d.is_dir():
            raise DataError(f"{d}: not a folder (a run folder outputs/<run>, or one `tft carry save` wrote)")
    sa, sb = students(a), students(b)
    pa, pb = predictions(a), predictions(b)
    read = functools.cache(rows)  # a file is compared with the other run's and with its other seed: read once
    seeds = {}
    for side, p in (("A", pa), ("B", pb)):
        for name in sorted(p):
            other = name.replace("-seed0", "-seed1")
            if name.endswith("-seed0") and other in p:
                seeds[f"{side} {name.removesuffix('-seed0')}"] = compare_predictions(
                    read(p[name]), read(p[other])
                )
    va, vb = verdicts(a, metric), verdicts(b, metric)
    return {
        "a": str(a),
        "b": str(b),
        "metric": metric,
        "students": {n: compare_student(sa[n], sb[n]) for n in sorted(set(sa) & set(sb))},
        "predictions": {n: compare_predictions(read(pa[n]), read(pb[n])) for n in sorted(set(pa) & set(pb))},
        "between_seeds": seeds,
        "verdicts": {sc: {"a": va[sc], "b": vb[sc]} for sc in sorted(set(va) & set(vb))},
    }


def _share(c: dict) -> str:
    n = max(c["pairs"], 1)
    extra = f"  ({c['only_one']} pairs in one only)" if c.get("only_one") else ""
    return f"{c['pairs']:5}  {c['identical'] / n:9.1%}  {c['same_function'] / n:13.1%}{extra}"


def render(res: dict) -> str:
    lines = [f"A: {res['a']}", f"B: {res['b']}"]
    if res["students"]:
        lines += ["", f"{'student':22} {'tokens A / B':>21}  {'final loss A / B':>17}  weights  CPU A / B"]
        for name, c in res["students"].items():
            same = {True: "same", False: "differ", None: "-"}[c["same_weights"]]
            tokens = f"{c['tokens'][0]} / {c['tokens'][1]}"
            loss = f"{c['final_loss'][0]} / {c['final_loss'][1]}"
            lines.append(f"{name:22} {tokens:>21}  {loss:>17}  {same:7}  {c['cpu'][0]} / {c['cpu'][1]}")
    head = f"{'pairs':>5}  {'identical':>9}  {'same function':>13}"
    if res["predictions"]:
        lines += ["", f"{'predictions, A against B':38} {head}"]
        total = {
            k: sum(c[k] for c in res["predictions"].values()) for k in ("pairs", "identical", "same_function")
        }
        lines += [f"{name:38} {_share(c)}" for name, c in res["predictions"].items()]
        lines.append(f"{'all':38} {_share(total)}")
    if res["between_seeds"]:
        lines += ["", f"{'seed 0 against seed 1, in each run':38} {head}"]
        lines += [f"{name:38} {_share(c)}" for name, c in res["between_seeds"].items()]
    if res["verdicts"]:
        lines += ["", f"{res['metric']}: TFT / Direct, TFT - Direct [95% interval], verdict"]
        for sc, v in res["verdicts"].items():
            for side in ("a", "b"):
                x = v[side]
                lines.append(
                    f"{sc} {side.upper()}  {x.get('tft', float('nan')):.3f} / {x.get('direct', float('nan')):.3f}  "
                    f"{x['diff']:+.3f} [{x['low']:+.3f}, {x['high']:+.3f}]  {x['verdict']}"
                )
            lines.append(
                f"{sc}    verdicts {'agree' if v['a']['verdict'] == v['b']['verdict'] else 'DIFFER'}"
            )
    if len(lines) == 2:
        lines.append("nothing in common: no student, predictions file or scored scenario in both")
    return "\n".join(lines)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="how far two runs (or carried folders) agree: students, predictions, verdicts"
    )
    p.add_argument("a", help="a run folder (outputs/<run>) or a `tft carry save` folder (docs/runs/<name>)")
    p.add_argument("b", help="the other")
    p.add_argument("--metric", default="llm_as_a_judge", help="the paired metric whose verdicts are compared")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    res = compare(args.a, args.b, args.metric)
    print(json.dumps(res, indent=1) if args.json else render(res))
    return 0
