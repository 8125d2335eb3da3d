"""RFM: recency, frequency and monetary value per customer, quintile scores and named groups.

Scores are 1-5 from the customer's percentile rank (ties share a score): recency scores high for
recent buyers, frequency (distinct purchase days) and monetary (total spend) score high for more.

Named groups, first matching rule wins (R, F, M are the scores, `days` the distinct purchase days):
- new: days == 1 and R >= 4
- champions: R >= 4 and F >= 4 and M >= 4
- loyal: R >= 3 and F >= 4
- potential_loyalists: R >= 3 and F >= 2
- cant_lose: R <= 2 and F >= 4 and M >= 4
- at_risk: R <= 2 and F >= 3
- hibernating: R == 2
- lost: R == 1
- needs_attention: everything else (recent-ish one-time buyers)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP_RULES: list[tuple[str, str]] = [
    ("new", "one purchase day, bought recently (R >= 4)"),
    ("champions", "bought recently, often and spent the most (R, F, M >= 4)"),
    ("loyal", "buy often (F >= 4) and not long ago (R >= 3)"),
    ("potential_loyalists", "recent (R >= 3) with a few purchase days (F >= 2)"),
    ("cant_lose", "used to buy often and spend a lot (F, M >= 4) but not lately (R <= 2)"),
    ("at_risk", "bought fairly often (F >= 3) but not lately (R <= 2)"),
    ("hibernating", "low recency (R = 2), little activity"),
    ("lost", "lowest recency (R = 1)"),
    ("needs_attention", "average recency, one-time or rare buyers"),
]
GROUP_DESCRIPTIONS = dict(GROUP_RULES)


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1..5 from the percentile rank; ties share a score."""
    pct = values.rank(method="average", pct=True, ascending=higher_is_better)
    return np.clip(np.ceil(pct * 5), 1, 5).astype(int)


def rfm_table(purchase_days: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """customer -> recency_days, frequency, monetary (total), average_spend, scores and group.

    `purchase_days` has one row per (customer, day) with the day's spend (training.clv.summary).
    """
    g = purchase_days.groupby("customer", sort=True)
    last = g["day"].max()
    table = pd.DataFrame(
        {
            "recency_days": ((as_of - last).dt.total_seconds() / 86400.0).clip(lower=0).round(1),
            "frequency": g.size().astype(int),
            "monetary": g["value"].sum().round(2),
        }
    )
    table["average_spend"] = (table["monetary"] / table["frequency"]).round(2)
    table["r_score"] = quintile_score(-table["recency_days"])
    table["f_score"] = quintile_score(table["frequency"])
    table["m_score"] = quintile_score(table["monetary"])
    table["segment"] = assign_groups(table)
    return table


def assign_groups(t: pd.DataFrame) -> np.ndarray:
    r, f, m, days = t["r_score"], t["f_score"], t["m_score"], t["frequency"]
    conditions = [
        (days == 1) & (r >= 4),
        (r >= 4) & (f >= 4) & (m >= 4),
        (r >= 3) & (f >= 4),
        (r >= 3) & (f >= 2),
        (r <= 2) & (f >= 4) & (m >= 4),
        (r <= 2) & (f >= 3),
        r == 2,
        r == 1,
    ]
    names = [name for name, _ in GROUP_RULES]
    return np.select(conditions, names[:-1], default=names[-1])
