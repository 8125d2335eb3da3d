"""`python -m training clv`: fit BG/NBD + Gamma-Gamma on purchases up to a calibration end."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from training import columns as C
from training.clv import bgnbd
from training.clv.summary import daily_transactions, summarize
from training.clv.value import fit
from training.errors import InputFileError, TrainingError


def _date(text: str) -> pd.Timestamp:
    try:
        # Customers' ages T are measured to the start of this day, as in the paper; purchases on it count.
        return pd.Timestamp(text, tz="UTC").floor("D")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): '{text}'") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clv", help="fit BG/NBD + Gamma-Gamma and check them on a holdout")
    p.add_argument("--events", type=Path, nargs="+", required=True)
    p.add_argument("--calibration-end", type=_date, required=True)
    p.add_argument("--holdout-end", type=_date)
    p.add_argument("--time-unit", choices=["week", "day"], default="week")
    p.add_argument("--output", type=Path, required=True)
    p.set_defaults(func=run)


def purchases_of(events: pd.DataFrame) -> pd.DataFrame:
    bought = events[events[C.EVENT] == C.PURCHASE].copy()
    if bought.empty:
        raise TrainingError("no purchase events: CLV needs purchases (event = purchase)")
    bought["value"] = bought[C.PRICE].fillna(0.0) * bought[C.QUANTITY]
    return bought


def run(args: argparse.Namespace) -> int:
    from training.loading import load_events

    events, _ = load_events(args.events)
    if events.empty:
        raise InputFileError(args.events[0], "no usable events")
    start = time.perf_counter()
    tx = daily_transactions(purchases_of(events), C.USER_ID, C.TIMESTAMP, "value")
    calib = summarize(tx, args.calibration_end, args.time_unit)
    if calib.empty:
        raise TrainingError(f"no purchases on or before the calibration end {args.calibration_end.date()}")
    model = fit(calib, args.time_unit)
    out: dict = {
        "bgnbd": model.to_dict()["bgnbd"],
        "gamma_gamma": model.to_dict()["gamma_gamma"],
        "customers": int(len(calib)),
        "repeat_buyers": int((calib["x"] > 0).sum()),
        "time_unit": args.time_unit,
        "fit_seconds": round(time.perf_counter() - start, 3),
    }
    if args.holdout_end is not None:
        if args.holdout_end <= args.calibration_end:
            raise TrainingError("--holdout-end must be after --calibration-end")
        hold = tx[
            (tx["day"] > args.calibration_end) & (tx["day"] <= args.holdout_end) & tx["customer"].isin(calib.index)
        ]
        span = (
            (args.holdout_end - args.calibration_end).total_seconds()
            / 86400.0
            / (7.0 if args.time_unit == "week" else 1.0)
        )
        predicted = bgnbd.expected_purchases(
            model.bgnbd, span, calib["x"].to_numpy(), calib["t_x"].to_numpy(), calib["T"].to_numpy()
        )
        out["holdout"] = {
            "actual_repeat_transactions": int(len(hold)),
            "predicted_repeat_transactions": round(float(predicted.sum()), 1),
            "length": round(span, 2),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0
