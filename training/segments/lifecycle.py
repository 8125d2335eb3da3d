"""Lifecycle stage per user, from documented rules.

- prospect: browsed (any event) but never bought.
- new: first purchase within the last `new_days` (30).
- churned: P(alive) < 0.2 (BG/NBD), or no purchase for more than 4x the shop's median gap between a
  customer's purchase days (at least 120 days).
- at_risk: P(alive) < 0.5, or the customer's silence is more than 2x their own usual gap (the
  shop's median gap for one-time buyers): activity well below their own baseline.
- active: everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAGES = ("prospect", "new", "active", "at_risk", "churned")
DESCRIPTIONS = {
    "prospect": "browsed but never bought",
    "new": "first purchase in the last 30 days",
    "active": "buying at their usual pace",
    "at_risk": "silent for over twice their usual gap between purchases, or P(alive) < 0.5",
    "churned": "P(alive) < 0.2, or silent for over 4x the shop's median purchase gap (>= 120 days)",
}


def stages(
    rfm: pd.DataFrame,
    first_purchase_age_days: pd.Series,
    p_alive: pd.Series,
    all_users: pd.Index,
    new_days: float = 30.0,
) -> pd.Series:
    """Stage per user in `all_users` (users absent from `rfm` never bought: prospects)."""
    freq = rfm["frequency"].astype(float)
    age = first_purchase_age_days.reindex(rfm.index)
    own_gap = (age - rfm["recency_days"]) / (freq - 1).where(freq > 1)
    median_gap = float(np.nanmedian(own_gap)) if own_gap.notna().any() else 30.0
    median_gap = max(median_gap, 1.0)
    baseline = own_gap.fillna(median_gap).clip(lower=1.0)
    silence = rfm["recency_days"]
    alive = p_alive.reindex(rfm.index).fillna(1.0)
    churn_after = max(120.0, 4 * median_gap)
    stage = np.select(
        [age <= new_days, (alive < 0.2) | (silence > churn_after), (alive < 0.5) | (silence > 2 * baseline)],
        ["new", "churned", "at_risk"],
        default="active",
    )
    out = pd.Series("prospect", index=all_users, dtype=object)
    out.loc[rfm.index] = stage
    return out
