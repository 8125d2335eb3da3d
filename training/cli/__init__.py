"""`python -m training ...`: the one command line of the training job, with one exit-code policy.

Exit codes, the same for every sub-command (README, "Exit codes"): 0 ok; 2 a bad flag, a bad input file or
input that cannot be used; 3 a model could not be fitted; 4 Redis unreachable or failing (a publish leaves
the previous version active); 5 the quality gate refused the new version (nothing published); 1 only for
unexpected errors (a bug, with its traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import redis

from training.failures import TrainingError

REDIS_FAILED = 4
COMMANDS = ("run", "versions", "export_events", "forget", "clv", "datasets")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"training.cli.{name}").add_parser(sub)
    return parser


def run_program(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, run the chosen command, and turn the job's errors into messages and exit codes.

    argparse answers bad flags itself (usage, exit 2); a `TrainingError` prints `error: ...` and exits with
    its code.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except redis.RedisError as exc:  # Redis failing in the middle of a command (connecting is checked first)
        print(f"error: Redis failed: {exc}", file=sys.stderr)
        return REDIS_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return run_program(build_parser(), argv)
