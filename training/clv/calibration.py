"""Fit BG/NBD + Gamma-Gamma on purchases up to a calibration end and check the forecast on a holdout."""

from __future__ import annotations

import time

import pandas as pd

from training.clv import bgnbd
from training.clv.summary import daily_transactions, summarize
from training.clv.value import fit
from training.data import columns as C
from training.failures import TrainingError


def purchases_of(events: pd.DataFrame) -> pd.DataFrame:
    bought = events[events[C.EVENT] == C.PURCHASE].copy()
    if bought.empty:
        raise TrainingError("no purchase events: CLV needs purchases (event = purchase)")
    bought["value"] = bought[C.PRICE].fillna(0.0) * bought[C.QUANTITY]
    return bought


def calibrate(
    events: pd.DataFrame, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp | None, time_unit: str
) -> dict:
    """The fitted parameters, and with `holdout_end` the predicted against actual repeat transactions."""
    start = time.perf_counter()
    tx = daily_transactions(purchases_of(events), C.USER_ID, C.TIMESTAMP, "value")
    calib = summarize(tx, calibration_end, time_unit)
    if calib.empty:
        raise TrainingError(f"no purchases on or before the calibration end {calibration_end.date()}")
    model = fit(calib, time_unit)
    out: dict = {
        "bgnbd": model.to_dict()["bgnbd"],
        "gamma_gamma": model.to_dict()["gamma_gamma"],
        "customers": int(len(calib)),
        "repeat_buyers": int((calib["x"] > 0).sum()),
        "time_unit": time_unit,
        "fit_seconds": round(time.perf_counter() - start, 3),
    }
    if holdout_end is not None:
        if holdout_end <= calibration_end:
            raise TrainingError("--holdout-end must be after --calibration-end")
        hold = tx[(tx["day"] > calibration_end) & (tx["day"] <= holdout_end) & tx["customer"].isin(calib.index)]
        span = (holdout_end - calibration_end).total_seconds() / 86400.0 / (7.0 if time_unit == "week" else 1.0)
        predicted = bgnbd.expected_purchases(
            model.bgnbd, span, calib["x"].to_numpy(), calib["t_x"].to_numpy(), calib["T"].to_numpy()
        )
        out["holdout"] = {
            "actual_repeat_transactions": int(len(hold)),
            "predicted_repeat_transactions": round(float(predicted.sum()), 1),
            "length": round(span, 2),
        }
    return out
