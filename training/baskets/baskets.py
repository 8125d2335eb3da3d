"""Baskets: the purchases that belong together, by order id when the events carry one, else by session.

A purchase with an `order_id` belongs to that order's basket. Purchases without one are grouped per
customer into sessions: a new basket starts when more than `session_gap_minutes` pass between two of
the customer's purchases (web shops log one purchase event per line of an order, seconds apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.data import columns as C

SESSION_GAP_MINUTES = 30.0


@dataclass
class Baskets:
    """One row per distinct (basket, item); baskets numbered 0..n-1 in order of their first purchase."""

    basket: np.ndarray  # int64
    item: np.ndarray  # external item ids (object)
    started: np.ndarray  # per basket: its first purchase (datetime64[ns], UTC)
    by_order_id: int  # baskets formed from order ids
    by_session: int  # baskets formed from a customer's session

    @property
    def n_baskets(self) -> int:
        return len(self.started)


def baskets(events: pd.DataFrame, session_gap_minutes: float = SESSION_GAP_MINUTES) -> Baskets:
    """The baskets of every purchase event."""
    buys = events.loc[events[C.EVENT] == C.PURCHASE, [C.USER_ID, C.ITEM_ID, C.TIMESTAMP]].copy()
    has_order = (
        events.loc[buys.index, C.ORDER_ID].notna().to_numpy()
        if C.ORDER_ID in events.columns
        else np.zeros(len(buys), dtype=bool)
    )
    key = pd.Series("", index=buys.index, dtype=object)
    if has_order.any():
        key[has_order] = "o\x1f" + events.loc[buys.index[has_order], C.ORDER_ID].astype(str)
    rest = buys.loc[~has_order].sort_values([C.USER_ID, C.TIMESTAMP], kind="stable")
    if len(rest):
        gap = rest[C.TIMESTAMP].diff().dt.total_seconds().to_numpy() > session_gap_minutes * 60
        new_user = (rest[C.USER_ID] != rest[C.USER_ID].shift()).to_numpy()
        session = np.cumsum(gap | new_user)
        key[rest.index] = "s\x1f" + pd.Series(session, index=rest.index).astype(str)
    buys["basket"] = key
    first = buys.groupby("basket", sort=False)[C.TIMESTAMP].min().sort_values(kind="stable")
    number = pd.Series(np.arange(len(first)), index=first.index)
    pairs = buys[["basket", C.ITEM_ID]].drop_duplicates()
    by_order = int(first.index.str.startswith("o\x1f").sum()) if len(first) else 0
    return Baskets(
        basket=number.reindex(pairs["basket"]).to_numpy(dtype=np.int64),
        item=pairs[C.ITEM_ID].to_numpy(dtype=object),
        started=pd.DatetimeIndex(first.to_numpy()).tz_localize(None).to_numpy()
        if getattr(first.dtype, "tz", None) is None
        else pd.DatetimeIndex(first).tz_convert(None).to_numpy(),
        by_order_id=by_order,
        by_session=len(first) - by_order,
    )


def split_by_time(b: Baskets, fraction: float) -> tuple[Baskets, Baskets]:
    """(earlier, the last `fraction` of baskets by start): a validation split that never looks ahead."""
    cut = int(round(b.n_baskets * (1 - fraction)))
    early = b.basket < cut

    def part(mask: np.ndarray, offset: int, started: np.ndarray) -> Baskets:
        return Baskets(b.basket[mask] - offset, b.item[mask], started, 0, 0)

    return part(early, 0, b.started[:cut]), part(~early, cut, b.started[cut:])
