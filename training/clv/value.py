"""Fit both CLV models on a purchase history and score every customer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.clv import bgnbd, gamma_gamma
from training.clv.summary import UNITS


@dataclass
class CLVModel:
    bgnbd: bgnbd.BGNBDParams
    bgnbd_ll: float
    gamma_gamma: gamma_gamma.GammaGammaParams | None
    gamma_gamma_ll: float | None
    unit: str
    mean_spend: float

    def to_dict(self) -> dict:
        return {
            "bgnbd": self.bgnbd.to_dict() | {"log_likelihood": self.bgnbd_ll},
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "time_unit": self.unit,
        }


def fit(summary: pd.DataFrame, unit: str) -> CLVModel:
    params, ll = bgnbd.fit(summary["x"], summary["t_x"], summary["T"])
    gg, gg_ll = None, None
    repeat = summary["x"] > 0
    if repeat.any() and (summary.loc[repeat, "m_x"] > 0).all():
        gg, gg_ll = gamma_gamma.fit(summary["x"], summary["m_x"])
    mean_spend = float((summary["total"] / summary["n_days"]).mean())
    return CLVModel(params, ll, gg, gg_ll, unit, mean_spend)


def score(
    model: CLVModel,
    summary: pd.DataFrame,
    horizon_days: float = 365.0,
    discount_rate: float = 0.1,
    purchases_days: float = 90.0,
) -> pd.DataFrame:
    """p_alive, expected purchases in `purchases_days`, and discounted expected value over `horizon_days`.

    Value = sum over monthly steps of (expected purchases in the month) x (expected spend per
    purchase) / (1 + annual discount rate) ** (months / 12).
    """
    per_day = 1.0 / UNITS[model.unit]
    x, t_x, T = summary["x"].to_numpy(), summary["t_x"].to_numpy(), summary["T"].to_numpy()
    alive = bgnbd.p_alive(model.bgnbd, x, t_x, T)
    exp_short = bgnbd.expected_purchases(model.bgnbd, purchases_days * per_day, x, t_x, T)
    spend = (
        gamma_gamma.expected_spend(model.gamma_gamma, x, summary["m_x"].to_numpy(), model.mean_spend)
        if model.gamma_gamma
        else np.full(len(x), model.mean_spend)
    )
    months = max(1, int(round(horizon_days / 30.0)))
    value = np.zeros(len(x))
    prev = np.zeros(len(x))
    for k in range(1, months + 1):
        cum = bgnbd.expected_purchases(model.bgnbd, min(k * 30.0, horizon_days) * per_day, x, t_x, T)
        value += (cum - prev) * spend / (1 + discount_rate) ** (k / 12)
        prev = cum
    return pd.DataFrame(
        {"p_alive": alive, "expected_purchases_90d": exp_short, "expected_spend": spend, "expected_value_365d": value},
        index=summary.index,
    )
