"""`python -m tools bench ...|simulate ...`: the project's own tools, outside the product packages.

Same exit-code policy as `python -m training` (training.cli.run_program).
"""

from __future__ import annotations

import argparse
import sys

from tools import bench, simulate
from training.cli import run_program


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="tool", required=True)
    bench.add_parser(sub)
    simulate.add_parser(sub)
    return parser


if __name__ == "__main__":
    sys.exit(run_program(build_parser()))
