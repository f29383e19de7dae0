"""`tft` command line, at the top of the package (nothing in it imports this module). Each stage
module that offers a command defines `add_cli(subparsers)` (with `core.params.add_params_args`); this
file only collects them, so stages stay independent of each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tft_utils.core.io import DataError
from tft_utils.core.params import ParamsError
from tft_utils.llm.backends import BackendError

# Modules that contribute subcommands, in the order `tft --help` lists them.
COMMAND_MODULES = (
    "data.traces",
    "data.pairs_command",
    "data.scenarios",
    "clean.pipeline",
    "synth.pipeline",
    "train.command",
    "evaluate.predict_command",
    "evaluate.score",
    "plan.estimate",
    "run.study",
    "run.carry",
    "run.compare",
)
# Known failures: bad input, a bad parameter, an endpoint that keeps failing (after its retries) or
# refuses the key. Each ends a command with one line `tft CMD: error: ...` and exit code 2.
KNOWN_FAILURES = (DataError, ParamsError, FileNotFoundError, BackendError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tft", description="Training from Traces: the study's commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"tft_utils.{name}").add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KNOWN_FAILURES as e:
        print(f"tft {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
