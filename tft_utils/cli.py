"""`tft` command line. Each stage module that offers a command defines `add_cli(subparsers)`;
this file only collects them, so stages stay independent of each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tft_utils.backends import BackendError
from tft_utils.io import DataError
from tft_utils.params import ParamsError, load_params

# Modules that contribute subcommands, in the order `tft --help` lists them.
COMMAND_MODULES = ("data", "scenarios", "clean", "synth", "train", "predict", "score", "plan", "run")
# Known failures: bad input, a bad parameter, an endpoint that keeps failing (after its retries) or
# refuses the key. Each ends a command with one line `tft CMD: error: ...` and exit code 2.
KNOWN_FAILURES = (DataError, ParamsError, FileNotFoundError, BackendError)


def add_params_args(p: argparse.ArgumentParser) -> None:
    """--profile/--scenario/-p overrides, shared by every command that reads params."""
    p.add_argument("--profile", default=None, help="cpu | teach | paper | smoke (default: cpu)")
    p.add_argument("--params-scenario", dest="params_scenario", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--params",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --params run.seed=1 (repeatable)",
    )
    p.add_argument("-p", dest="overrides", action="append", metavar="KEY=VALUE", help="same as --params")


def params_from_args(args: argparse.Namespace, scenario: str | None = None) -> dict:
    return load_params(args.profile, scenario or getattr(args, "params_scenario", None), args.overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tft", description="Training from Traces: the study's commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tft_utils.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"tft_utils.{name}":
                continue  # stage not built yet
            raise
        module.add_cli(subparsers)
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
