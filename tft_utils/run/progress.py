"""What the running stage is doing, on `tft run`'s bar.

A stage can run for an hour (05 of the cpu profile trains four students, ~16 min each on 2 cores without
AMX), and papermill keeps what its kernel prints only in the executed notebook, written when the stage
ends; `tft run`'s own bar counts stages. So the kernels run with text progress bars (`KERNEL_ARGS`;
papermill keeps no widget state, so a widget bar was saved at 0% forever) echoed to the stage's log
beside the executed copy (`<notebook>.kernel.log`, study.kernel_log), and a thread of `tft run`
(`Watch`) reads what the log gains and puts its last bar, with the model it belongs to, on the study's:

    s1/05_finetune:  57%|█████▋    | 4/7 stages [31:02, direct seed 1: train 230/500 [07:40<08:39]]

With `run.jobs` > 1 the students train in worker processes that write the same log, each line and bar update
tagged `[worker K] ` (core/workers.py); each worker's bar is read apart and every one still running is shown:

    s1/05_finetune:  57%|█████▋    | 4/7 stages [31:02, direct seed 0: train 230/500 [15:20<17:40] | tft seed 0: ...]

The executed notebook keeps each bar's last state (`coalesce`), not every update.
"""

from __future__ import annotations

import codecs
import io
import re
import sys
import threading
from pathlib import Path

from tft_utils.core.imports import WITHOUT_IRI_FORMATS
from tft_utils.core.workers import TAG

# quiet=False: the kernel echoes its stdout / stderr to its own file descriptors (the stage's log), a child
# process's output once (echo_once); tqdm.auto would pick the notebook widget in a kernel, whose state
# papermill does not keep; and the report's kernel imports nbconvert without jsonschema's IRI checkers
# (core/imports.py: ~1.2 s).
KERNEL_ARGS = (
    "--IPKernelApp.quiet=False",
    f"--IPKernelApp.exec_lines={WITHOUT_IRI_FORMATS}; "
    "import tqdm.auto, tqdm.std; tqdm.auto.tqdm = tqdm.std.tqdm; "
    "from tft_utils.run.progress import echo_once; echo_once()",
)


class _EchoNotFrom(io.TextIOBase):
    """A kernel stream's echo that drops what `thread` (the stream's pipe watcher) writes through it."""

    def __init__(self, echo, thread: threading.Thread):
        self.echo, self.thread = echo, thread

    def write(self, s: str) -> int:
        return len(s) if threading.current_thread() is self.thread else self.echo.write(s)

    def flush(self) -> None:
        self.echo.flush()


def echo_once() -> None:
    """In a kernel started with KERNEL_ARGS: a child process's output (05's and 06's workers, run.jobs) reaches
    the stage's log once. ipykernel 7.4 points file descriptors 1 and 2 at pipes; a thread reads what a child
    writes there, writes those bytes to the log itself, then passes them to the stream, whose echo (quiet=False)
    wrote them again, so a bar could step back between two reads of the log. The kernel's own prints still go
    through the echo, once. A no-op outside such a kernel (a stream without a pipe watcher or an echo)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        thread, echo = getattr(stream, "watch_fd_thread", None), getattr(stream, "echo", None)
        if thread is not None and echo is not None and not isinstance(echo, _EchoNotFrom):
            stream.echo = _EchoNotFrom(echo, thread)


# the study's bar (local and on a cluster): no remaining-time guess, as stages take from seconds (02) to an
# hour (05) and a mean per stage misleads; the running stage's progress in the postfix
STAGES_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} stages [{elapsed}{postfix}]"


def redraw_every(stream) -> float:
    """Seconds between redraws of the study's bar for a kernel's progress alone: a terminal redraws the
    line in place; a log file (CI, nohup) gets a new line each time, so once a minute."""
    return 0.0 if stream.isatty() else 60.0


# a tqdm line: 'train:  46%|████▌     | 230/500 [07:40<08:39,  2.01s/it]'
BAR = re.compile(  # each update starts a line or follows a carriage return; a desc may hold colons
    r"(?:^|[\r\n])(?P<desc>[^\r\n|]*?):\s+\d+%\|[^|\r\n]*\|\s*(?P<n>\d+)/(?P<total>\d+)"
    r"\s+\[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+)"
)
# what 05 and 06 print before each model's bars (train/arms.py, evaluate/compare.py, train/tool_base.py),
# anywhere on a line: a print may follow a bar left open on the same line
WHO = re.compile(
    r"(?P<who>tool base|\b[a-z]+ seed \w+): (?:training|predicting|\d+ dialogues|another process)"
)
# characters kept between reads: more than a bar's line, so a line cut by a read is whole the next time
TAIL = 4096
# what a worker of core/workers.py (run.jobs) puts before each of its lines and bar updates
WORKER = re.compile(re.escape(TAG).replace(r"\{\}", r"(?P<k>\d+)"))
# after each line's end or bar update's carriage return, and before a worker's tag: a bar update ends only where
# the next write begins, which may be another worker's
PIECE = re.compile(r"(?<=[\r\n])|(?=" + WORKER.pattern.replace("(?P<k>", "(?:") + ")")


class Reader:
    """The status a kernel log shows so far (from byte `start`), read in pieces as it grows. The lines of
    each worker of core/workers.py (tagged `[worker K] `) are read apart from the kernel's own, so two
    students trained side by side each show their own bar."""

    def __init__(self, path: str | Path, start: int = 0):
        self.path, self.pos, self.rest = Path(path), start, ""
        self.streams: dict[str, dict] = {}  # '' (the kernel) or the worker's number: its text and model
        self.order: list[str] = []  # the streams, the one that wrote last at the end
        self.decode = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @classmethod
    def at_end(cls, path: str | Path) -> Reader:
        """A reader of what `path` gains from now on (a stage's log is appended to by each of its runs)."""
        path = Path(path)
        return cls(path, path.stat().st_size if path.exists() else 0)

    def status(self) -> str | None:
        """'direct seed 1: train 230/500 [07:40<08:39]': the last bar, after the last model named; with
        workers, each one's whose bar is not at its end ('direct seed 0: train 230/500 [...] | tft seed 0:
        train 12/500 [...]'); None before the first bar."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                chunk = f.read()
        except FileNotFoundError:
            return None
        self.pos += len(chunk)
        *whole, self.rest = PIECE.split(self.rest + self.decode.decode(chunk))
        for piece in whole:
            self._add(*self._split(piece))
        last = self._split(self.rest)  # a bar update ends where the next begins: read it so far
        recent = [k for k in self.order if not (last[1] and k == last[0])] + ([last[0]] if last[1] else [])
        bars = {k: b for k in recent if (b := self._bar(k, last[1] if k == last[0] else ""))}
        by_worker = sorted(bars, key=lambda k: int(k or -1))  # the kernel's own first
        running = [bars[k][0] for k in by_worker if not bars[k][1]]
        if running:
            return " | ".join(running)
        return bars[list(bars)[-1]][0] if bars else None  # all at their end: the one written last

    @staticmethod
    def _split(piece: str) -> tuple[str, str]:
        m = WORKER.match(piece)
        return (m["k"], piece[m.end() :]) if m else ("", piece)

    def _add(self, k: str, text: str) -> None:
        st = self.streams.setdefault(k, {"text": "", "who": None})
        st["text"] = (st["text"] + "\n" + text)[-TAIL:]  # each piece starts anew (its \r went to another)
        who = list(WHO.finditer(st["text"]))
        if who:
            st["who"] = who[-1]["who"].replace(" seed None", "")  # the base model: no seed
            st["text"] = st["text"][who[-1].end() :]  # its bars follow; earlier ones were another model's
        if k in self.order:
            self.order.remove(k)
        self.order.append(k)

    def _bar(self, k: str, more: str) -> tuple[str, bool] | None:
        """(this stream's status, whether its bar is at its end), or None before its first bar."""
        st = self.streams.get(k, {"text": "", "who": None})
        bars = list(BAR.finditer(st["text"] + "\n" + more))
        if not bars:
            return None
        b = bars[-1]
        line = f"{b['desc'].strip()} {b['n']}/{b['total']} [{b['elapsed']}<{b['left']}]"
        return (f"{st['who']}: {line}" if st["who"] else line), b["n"] == b["total"]


class Watch:
    """Reads a kernel log every `every` seconds while a stage runs and calls `show(status)` when the
    status changes."""

    def __init__(self, path: str | Path, show, every: float = 1.0):
        self.reader = Reader.at_end(path)  # only what this run of the stage writes counts
        self.show, self.every = show, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="tft-progress", daemon=True)
        self.shown = None

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            status = self.reader.status()
            if status and status != self.shown:
                self.show(status)
                self.shown = status


class Logs:
    """The kernel logs of the stages a cluster runs side by side, each read from where it ended when the run
    began (the nodes share outputs/, so the driver reads what each task's kernel writes)."""

    def __init__(self, paths: dict[str, Path]):
        self.readers = {name: Reader.at_end(path) for name, path in paths.items()}

    def status(self, names: list[str]) -> str:
        """'s1/05_finetune (direct seed 0: train 3/10 [00:02<00:05]), s2/04_synthesize' for the running
        `names`."""
        out = []
        for name in names:
            status = self.readers[name].status() if name in self.readers else None
            out.append(f"{name} ({status})" if status else name)
        return ", ".join(out) or "-"


def coalesce(path: str | Path) -> None:
    """An executed notebook as Jupyter shows it: each cell's consecutive prints joined, and a progress
    bar's updates (text before a carriage return) dropped, so the file keeps each bar's last state."""
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(str(path), as_version=4)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    nbformat.write(nb, str(path))
