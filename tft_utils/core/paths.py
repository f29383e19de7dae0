"""Where things are: the repository (params/, notebooks/, data/ and outputs/ beside the package) and
every path a run folder holds, for the notebooks, `tft run` and the stages that write into a run.

    outputs/<run>/data/                 01: train pool, test set, test pairs, tools (shared by scenarios)
    outputs/<run>/<sN>/                 02..06: traces, clean/, synth/, models/, predictions/, results.json
    outputs/<run>/report/               07: the study's table, figures, HTML
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # tft_utils/ (the only module that looks at its own __file__)
REPO = PACKAGE.parent  # the checkout


def shown(path: str | Path) -> str:
    """A path as a reader of an executed notebook should see it: relative to the checkout when inside it,
    from ~ when under the home folder, else as it is (no machine's /work/... in what is shared)."""
    p = Path(path).expanduser()
    for root, prefix in ((REPO, ""), (Path.home(), "~/")):
        try:
            return prefix + str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def run_paths(run_dir: str | Path, scenario: str | None = None) -> dict:
    """Every path a notebook reads or writes, from the run folder (relative to the repo root)."""
    run_dir = Path(run_dir)
    run_dir = run_dir if run_dir.is_absolute() else REPO / run_dir
    p = {"run": run_dir, "data": run_dir / "data", "report": run_dir / "report"}
    if scenario:
        s = run_dir / scenario
        p.update(
            scenario=s,
            traces=s / "traces.jsonl",
            corruptions=s / "corruptions.jsonl",
            direct_train=s / "direct_train.jsonl",
            clean=s / "clean",
            synth=s / "synth",
            models=s / "models",
            predictions=s / "predictions",
            results=s / "results.json",
        )
    return p


def model_dir(paths: dict, arm: str, seed: int) -> Path:
    """Where notebook 05 saves a merged student: models/<arm>-seed<N>."""
    return paths["models"] / f"{arm}-seed{seed}"


# In a model folder restored by `tft carry`: its fingerprint and training record, not its weights.
CARRIED = "CARRIED.json"


def carried_without_weights(model: str | Path) -> bool:
    """True for a student carried from another session (`tft carry restore`) that holds no weights."""
    model = Path(model)
    return (model / CARRIED).exists() and not (model / "config.json").exists()
