"""`python -m training clv`: fit BG/NBD + Gamma-Gamma on purchases up to a calibration end (CDNOW check)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.cli.arguments import day


def add_parser(sub: argparse._SubParsersAction) -> None:
    # Customers' ages T are measured to the start of the calibration day, as in the paper; its purchases count.
    p = sub.add_parser("clv", help="fit BG/NBD + Gamma-Gamma and check them on a holdout")
    p.add_argument("--events", type=Path, nargs="+", required=True)
    p.add_argument("--calibration-end", type=day, required=True)
    p.add_argument("--holdout-end", type=day)
    p.add_argument("--time-unit", choices=["week", "day"], default="week")
    p.add_argument("--output", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.clv.calibration import calibrate
    from training.data.loading import load_events
    from training.failures import InputFileError

    events, _ = load_events(args.events)
    if events.empty:
        raise InputFileError(args.events[0], "no usable events")
    out = calibrate(events, args.calibration_end, args.holdout_end, args.time_unit)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0
