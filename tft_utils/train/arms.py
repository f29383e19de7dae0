"""Notebook 05: train the Direct and the TFT student of a scenario, same budget, every seed.

- Direct trains on the scenario's raw traces (`traces.jsonl`), whole conversations, loss on every call
  (the same signal as the per-turn pairs of `direct_train.jsonl`, several times fewer tokens).
- TFT trains on the validated synthetic conversations of notebook 04 plus, by default, the cleaned
  seed traces of notebook 03 (`train.tft_data`); turns the committee masked are context, not targets.
Both arms share `train.max_steps` / `train.epochs`, so the comparison is budget for budget. Models go
to `models/<arm>-seed<N>` (`core.paths.model_dir`); a model whose fingerprint (data, base, params, seed,
code) is unchanged is not retrained, a killed one resumes from its checkpoint (`tft_utils.core.fresh`).
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from tft_utils.core.io import read_json, write_json
from tft_utils.core.paths import model_dir, shown
from tft_utils.train.loop import NOT_IN_WEIGHTS, read_conversations, train
from tft_utils.train.render import load_tools

# peft's get_peft_model reads transformers' deprecated `is_gradient_checkpointing` (peft_model.py): a FutureWarning
# per student, in the kernel and in every worker (this module is what a worker imports), that 05's reader can
# do nothing about
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

TFT_DATA = ("synthetic+seeds", "synthetic", "seeds")


def arm_sources(paths: dict, params: dict, pipelines) -> dict[str, list[Path]]:
    """The files each asked-for arm trains on."""
    wanted = {}  # arm -> [(file, the notebook that writes it)]
    if "direct" in pipelines:
        wanted["direct"] = [(paths["traces"], "02")]
    if "tft" in pipelines:
        what = params["train"]["tft_data"]
        if what not in TFT_DATA:
            raise ValueError(f"train.tft_data must be one of {', '.join(TFT_DATA)}, got {what!r}")
        wanted["tft"] = [(paths["synth"] / "synthetic.jsonl", "04")] * ("synthetic" in what) + [
            (paths["clean"] / "kept.jsonl", "03")
        ] * ("seeds" in what)
    for arm, files in wanted.items():
        for f, stage in files:
            if not Path(f).exists():
                raise FileNotFoundError(f"{arm}: {f} is missing (run notebook {stage} first)")
    return {arm: [f for f, _ in files] for arm, files in wanted.items()}


def training_sets(sources: dict[str, list[Path]]) -> dict[str, list[dict]]:
    """{arm: conversations}: each file read and checked, rows kept in file order."""
    return {arm: [c for f in files for c in read_conversations(f)] for arm, files in sources.items()}


def size_table(sets: dict[str, list[dict]]) -> pd.DataFrame:
    """Conversations, messages and supervised (unmasked) assistant turns per arm."""
    rows = []
    for arm, convs in sets.items():
        calls = [m for c in convs for m in c["messages"] if m.get("role") == "assistant"]
        rows.append(
            {
                "arm": arm,
                "conversations": len(convs),
                "messages": sum(len(c["messages"]) for c in convs),
                "assistant_turns": len(calls),
                "supervised_turns": sum(not m.get("masked") for m in calls),
            }
        )
    return pd.DataFrame(rows).set_index("arm")


# Where the code that shapes a student's weights starts: it and every package module it imports
# (fresh.code_of: train/render.py, domain/calls.py, train/attention.py, ...); an edit elsewhere in the package
# (a report, the judge) leaves trained students valid, an edit there retrains them.
STUDENT_ROOTS = ("train/loop.py",)


def student_fingerprint(
    convs: list[dict], paths: dict, params: dict, seed: int, base=None, tools=None
) -> dict:
    """What a trained student is made of: its training conversations, the base model (`base`: the one
    given, else `student_base`, which builds it when missing), the tools (`tools`: that file, else the
    run's data/tools.json), the training and student parameters, the seed and the code of
    `STUDENT_ROOTS` (`tft_utils.core.fresh.code_of`)."""
    from tft_utils.core import fresh
    from tft_utils.train.tool_base import student_base

    student = {k: v for k, v in params["student"].items() if k != "cache_dir"}  # where, not what
    train = {k: v for k, v in params["train"].items() if k not in NOT_IN_WEIGHTS}
    base = base or student_base(params)
    return fresh.make(
        "student",
        {"train": {**train, "seed": seed}, "student": student},
        {"base": base, "tools": tools or paths["data"] / "tools.json"},
        seed=seed,
        code=fresh.code_of(*STUDENT_ROOTS),
        data={"conversations": convs},
    )


def train_arms(sets: dict[str, list[dict]], paths: dict, params: dict, log=print) -> pd.DataFrame:
    """Train every arm x seed whose model is missing or stale; one row of training stats per model.
    With `run.jobs` > 1 the students to train are split into that many queues trained side by side
    (`core.workers`), an arm's seeds kept together so later seeds still reuse the frozen bottom."""
    with _backend_kept():
        return _train_arms(sets, paths, params, log)


@contextmanager
def _backend_kept():
    """Saving a loss curve (the tool base's, a student's trained in this process) switches matplotlib to Agg;
    in notebook 05's kernel that left every later figure undrawn (S1's training curves went missing), so the
    backend in use before is put back."""
    import matplotlib

    backend = matplotlib.get_backend()
    try:
        yield
    finally:
        if matplotlib.get_backend() != backend:
            shell = _ipython()
            if shell is not None and "inline" in backend:
                # matplotlib.use alone leaves the kernel's hook that draws a cell's figures off
                shell.run_line_magic("matplotlib", "inline")
            else:
                matplotlib.use(backend)


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _train_arms(sets: dict[str, list[dict]], paths: dict, params: dict, log=print) -> pd.DataFrame:
    from tft_utils.core import fresh
    from tft_utils.core.workers import side_by_side, threads_each

    tools = load_tools(paths["data"] / "tools.json")
    jobs = params["run"]["jobs"]
    stats, todo = {}, []
    for arm, convs in sets.items():
        for seed in params["run"]["seeds"]:
            out = model_dir(paths, arm, seed)
            # builds the tool base here, once, when it is missing (not in every worker)
            fp = student_fingerprint(convs, paths, params, seed)
            if fresh.reuse(out, fp, fresh.forced(params), log, f"{arm} seed {seed}"):
                stats[arm, seed] = read_json(out / "train_stats.json")
            else:
                todo.append((arm, seed, fp))
    n = min(jobs, len(todo))  # workers (0: nothing to train)
    if jobs > 1 and todo:
        threads = threads_each(jobs)
        log(
            f"{len(todo)} students to train, {n} at a time on {threads} thread{'s' * (threads > 1)} each (run.jobs)"
        )
    # [d0, d1, t0, t1] in 2 queues, [d0, d1] and [t0, t1]: an arm's later seeds reuse its first one's bottom
    queues = [todo[len(todo) * i // n : len(todo) * (i + 1) // n] for i in range(n)]
    mb = params["train"]["shared_bottom_mb"] / max(1, n)  # the budget is the stage's, split among the queues
    tasks = [([(arm, seed, fp, sets[arm]) for arm, seed, fp in q], paths, params, tools, mb) for q in queues]
    for _, done in side_by_side(train_queue, tasks, jobs, log):
        stats |= done
    rows = [
        {"arm": arm, "seed": seed, **{k: v for k, v in stats[arm, seed].items() if k != "history"}}
        for arm in sets
        for seed in params["run"]["seeds"]
    ]
    return pd.DataFrame(rows)


def train_queue(students: list[tuple], paths: dict, params: dict, tools: list[dict], mb: float, log=print):
    """Train (arm, seed, fingerprint, conversations) one after the other, keeping up to `mb` MB of the frozen
    bottom's outputs for the later ones (a later seed, the other arm: the passes over sequences seen before);
    returns {(arm, seed): stats}. Runs in notebook 05's kernel or in a worker of `core.workers`."""
    from tft_utils.core import fresh
    from tft_utils.train.bottom import SharedBottom

    shared = SharedBottom(mb)
    done = {}
    for arm, seed, fp, convs in students:
        out = model_dir(paths, arm, seed)
        log(f"{arm} seed {seed}: training on {len(convs)} conversations -> {shown(out)}")
        fresh.begin(out, fp, leftovers=[out])  # a checkpoint of other params is not resumed
        p = {**params, "train": {**params["train"], "seed": seed}}
        t0 = time.time()
        stats = train(convs, out, p, tools, shared=shared)
        # side by side (run.jobs), each student's seconds are its own: 07 counts the machine's time apart
        extra = {"wall_seconds": round(time.time() - t0, 1), "jobs": params["run"]["jobs"]}
        stats |= extra
        write_json(out / "train_stats.json", read_json(out / "train_stats.json") | extra)  # kept when reused
        if shared.held:
            log(
                f"{arm} seed {seed}: {stats['bottom_reused']} forward passes began from the frozen bottom's "
                f"kept outputs ({len(shared.held)} sequences kept, {shared.bytes / 2**20:.0f} MB)"
            )
        fresh.stamp(out, fp)
        done[arm, seed] = stats
    return done


def plot_curves(paths: dict, table: pd.DataFrame):
    """Training loss per optimizer step of every model, smoothed over 10 steps."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for _, r in table.iterrows():
        hist = read_json(model_dir(paths, r["arm"], r["seed"]) / "train_stats.json")["history"]
        loss = pd.Series([h["loss"] for h in hist], index=[h["step"] for h in hist])
        ax.plot(loss.rolling(10, min_periods=1).mean(), label=f"{r['arm']} seed {r['seed']}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per supervised token")
    ax.set_title("student training loss (10-step mean)")
    ax.legend()
    fig.tight_layout()
    return fig
