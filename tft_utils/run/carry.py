"""Carry a run's trained students to another session or machine without their weights (`tft carry`).

A student is hundreds of MB; what the study needs of it after training is small: its fingerprint and
training record (`train_stats.json`, read by 05's table and curves and 07's cost section) and its
predictions of the test pairs with their fingerprint (read by 06's scoring). `save` copies exactly
these, plus the untuned base's predictions, into a folder that can be committed (~60 kB a student, gzipped);
`restore` puts them back into a run folder, where `tft run` finds each carried student up to date (its
fingerprint holds: same data, parameters, seed, base and code) and trains and predicts only what is
missing. So a study too long for one session (20 students at ~40 min on 2 cores) is assembled over
several, each adding its students, and every student keeps the record of the machine it trained on.

A carried student has no weights: a stage that would need them (its predictions are stale after a
change of the prediction code) stops with an error that says to retrain it. A student whose own
fingerprint changed is retrained as usual (05 clears the folder first).
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

from tft_utils.core import fresh
from tft_utils.core.io import DataError, atomic_path, read_json, write_json
from tft_utils.core.params import add_params_args, params_from_args
from tft_utils.core.paths import CARRIED, REPO, run_paths
from tft_utils.core.provenance import git_commit

MODEL_FILES = (fresh.SIDECAR, "train_stats.json")


def stored_name(rel: Path) -> Path:
    """Fingerprints are kept as they are (readable in a diff); data files gzipped: a predictions file
    repeats each conversation in every pair's question (1.25 MB -> 42 kB)."""
    return rel if rel.name.endswith(fresh.SIDECAR) else rel.with_name(rel.name + ".gz")


def _predictions(folder: Path) -> list[Path]:
    """Finished predictions (a fingerprint beside them) in `folder`, with their fingerprints."""
    out = []
    for f in sorted(folder.glob("*.jsonl")):
        if fresh.read(f) is not None:
            out += [f, fresh.sidecar(f)]
    return out


def carried_files(run_dir: Path, log=print, scenarios: tuple[str, ...] = ()) -> list[Path]:
    """What `save` takes from a run: per scenario each finished student's fingerprint and training
    record and every finished predictions file; the base's predictions once. A student is carried
    only with its finished predictions: without weights it could never make them elsewhere, and a
    restored run would stop on it instead of training it. `scenarios`: only these (s1..s5; all when empty)."""
    files = _predictions(run_dir / "base")
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name != "base")
    missing = sorted(set(scenarios) - {p.name for p in folders})
    if missing:
        raise DataError(f"{run_dir}: no scenario folder {', '.join(missing)} to carry")
    for scenario in (p for p in folders if not scenarios or p.name in scenarios):  # no models/: globs nothing
        predictions = _predictions(scenario / "predictions")
        for model in sorted((scenario / "models").glob("*")):
            if fresh.read(model) is None or not (model / "train_stats.json").exists():
                continue
            if scenario / "predictions" / f"{model.name}.jsonl" not in predictions:
                log(f"not carried: {model} has no finished predictions yet (run stage 06 first)")
                continue
            files += [model / name for name in MODEL_FILES]
        files += predictions
    return files


def save(run_dir: str | Path, dest: str | Path, log=print, scenarios: tuple[str, ...] = ()) -> Path:
    """Copy the run's students (without weights) and predictions into `dest`, merging with what is
    there (a file of the run replaces its older copy); writes `dest/carried.json` listing them.
    `scenarios`: carry only these (a run whose other scenarios are older work)."""
    run_dir, dest = Path(run_dir), Path(dest)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run folder")
    files = carried_files(run_dir, log, scenarios)
    if not files:
        raise DataError(f"{run_dir}: no trained student or predictions to carry (run stages 05 and 06 first)")
    for f in files:
        out = dest / stored_name(f.relative_to(run_dir))
        with atomic_path(out) as tmp, f.open("rb") as src, tmp.open("wb") as dst:
            if out.suffix == ".gz":  # mtime 0 and the final name in the header: the same file, the same bytes
                with gzip.GzipFile(out.name, "wb", compresslevel=9, fileobj=dst, mtime=0) as gz:
                    shutil.copyfileobj(src, gz)
            else:
                shutil.copyfileobj(src, dst)
    manifest = dest / "carried.json"
    old = read_json(manifest) if manifest.exists() else {}
    listed = sorted(set(old.get("files", [])) | {str(f.relative_to(run_dir)) for f in files})
    write_json(
        manifest,
        {
            "saved": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "files": listed,
        },
    )
    students = sum(f.name == "train_stats.json" for f in files)
    log(f"carried {students} students and {sum(f.suffix == '.jsonl' for f in files)} predictions -> {dest}")
    return manifest


def restore(src: str | Path, run_dir: str | Path, log=print) -> int:
    """Put what `save` carried into `run_dir`; a file already there is kept (the run's own work wins),
    and a model folder that holds weights is never touched. Returns the number of files written."""
    src, run_dir = Path(src), Path(run_dir)
    manifest = src / "carried.json"
    if not manifest.exists():
        raise DataError(f"{src}: no carried.json here (made by `tft carry save`)")
    written = 0
    for rel in read_json(manifest).get("files", []):
        f, out = src / stored_name(Path(rel)), run_dir / rel
        if not f.exists():
            raise DataError(f"{manifest}: lists {rel}, but {f} is missing")
        model = out.parent if out.name in MODEL_FILES and out.parent.parent.name == "models" else None
        if out.exists() or (model is not None and (model / "config.json").exists()):
            continue
        with (
            atomic_path(out) as tmp,
            gzip.open(f) if f.suffix == ".gz" else f.open("rb") as data,
            tmp.open("wb") as dst,
        ):
            shutil.copyfileobj(data, dst)
        if model is not None and out.name == fresh.SIDECAR:
            write_json(model / CARRIED, {"carried_from": str(src), "weights": None})
        written += 1
    log(f"restored {written} files from {src} into {run_dir}")
    return written


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "carry", help="save a run's students (no weights) and predictions to a folder, or restore them"
    )
    p.add_argument("action", choices=("save", "restore"))
    p.add_argument(
        "--run", default=None, help="run name: <run.outputs>/<run>/ (default: run.name), as tft run"
    )
    p.add_argument("--folder", default=None, help="where they are carried (default: docs/runs/<run>)")
    p.add_argument("--scenario", default="", help="save: only these scenarios, e.g. s1,s5 (default: all)")
    add_params_args(p)
    p.set_defaults(func=_cmd_carry)


def _cmd_carry(args) -> int:
    # the run folder exactly as `tft run` names it: run.outputs (-p run.outputs=...) / the run's name
    params = params_from_args(args)
    args.run = args.run or params["run"]["name"]
    run_dir = run_paths(Path(params["run"]["outputs"]) / args.run)["run"]
    folder = Path(args.folder) if args.folder else REPO / "docs" / "runs" / args.run
    scenarios = tuple(s.strip() for s in args.scenario.split(",") if s.strip())
    if scenarios and args.action == "restore":  # restore puts back everything carried: say so, not ignore it
        raise DataError("tft carry restore: --scenario is for save; restore puts back every carried file")
    if args.action == "save":
        save(run_dir, folder, scenarios=scenarios)
    else:
        restore(folder, run_dir)
    return 0
