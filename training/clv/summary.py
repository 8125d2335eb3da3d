"""Per-customer (x, t_x, T, m_x) summaries from purchase transactions, as the CLV models expect them.

Purchases on the same day are one transaction (as in Fader, Hardie & Lee 2005). x is the number of
repeat transactions, t_x the time of the last one and T the customer's age, both measured from the
first purchase, in the chosen time unit; m_x is the mean value of the repeat transactions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNITS = {"day": 1.0, "week": 7.0}


def daily_transactions(purchases: pd.DataFrame, customer: str, when: str, value: str) -> pd.DataFrame:
    """One row per (customer, day) with the day's summed value."""
    day = pd.to_datetime(purchases[when], utc=True).dt.floor("D")
    frame = pd.DataFrame(
        {
            "customer": purchases[customer].astype(str).to_numpy(),
            "day": day.to_numpy(),
            "value": purchases[value].astype(float).to_numpy(),
        }
    )
    return frame.groupby(["customer", "day"], as_index=False, sort=True)["value"].sum()


def summarize(
    transactions: pd.DataFrame, end: pd.Timestamp, unit: str = "week", start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """(customer -> x, t_x, T, m_x, first, last, n_days, total) from daily transactions up to `end` (inclusive)."""
    if unit not in UNITS:
        raise ValueError(f"time unit must be one of {sorted(UNITS)}, got '{unit}'")
    tx = transactions[transactions["day"] <= end]
    if start is not None:
        tx = tx[tx["day"] >= start]
    g = tx.groupby("customer", sort=True)
    first = g["day"].min()
    last = g["day"].max()
    n = g.size()
    total = g["value"].sum()
    first_value = tx.loc[g["day"].idxmin(), ["customer", "value"]].set_index("customer")["value"]
    scale = UNITS[unit] * 86400.0
    out = pd.DataFrame(
        {
            "x": (n - 1).astype(float),
            "t_x": (last - first).dt.total_seconds() / scale,
            "T": (pd.Timestamp(end) - first).dt.total_seconds() / scale,
            "first": first,
            "last": last,
            "n_days": n,
            "total": total,
        }
    )
    repeat_total = total - first_value.reindex(out.index)
    out["m_x"] = np.where(out["x"] > 0, repeat_total / out["x"].where(out["x"] > 0, 1), 0.0)
    return out
