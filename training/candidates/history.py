"""The customer's own history: items bought (or viewed, carted) before, scored for buying again.

The score is what a buy-again list would sort by (distinct days bought, then recency), multiplied by
the item's smoothed repurchase rate among all its buyers, so a sofa bought once by everyone sinks
below the milk a customer buys every week. Viewed or carted but not bought items come after them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.arrays import KeyGroups
from training.candidates.base import BlockSource, Context, buyer_counts, gather_pairs
from training.candidates.base import _csr as csr
from training.data import columns as C


def repurchase_rate(ctx: Context, prior_strength: float = 5.0) -> np.ndarray:
    """Per item, share of its buyers who bought it on two or more distinct days, shrunk to the shop's rate."""
    buyers, repeat = buyer_counts(ctx)
    overall = repeat.sum() / buyers.sum() if buyers.sum() else 0.0
    return ((repeat + prior_strength * overall) / (buyers + prior_strength)).astype(np.float32)


class HistorySource(BlockSource):
    name = "history"
    min_score = 0.0

    def fit(self, ctx: Context) -> HistorySource:
        super().fit(ctx)
        ev = ctx.events
        u, i = ev["u"].to_numpy(), ev["i"].to_numpy()
        pairs = KeyGroups(u * ctx.n_items + i)
        last = pairs.min(ev["age_days"].to_numpy())
        recency = np.exp(-last / 90.0).astype(np.float32)  # in (0, 1]: a tie-break inside equal counts
        shape = (ctx.n_users, ctx.n_items)
        self.recency = csr(pairs.keys // ctx.n_items, pairs.keys % ctx.n_items, recency, shape)
        self.rate = repurchase_rate(ctx)
        seen = (ev[C.EVENT] != C.PURCHASE).to_numpy()
        self.seen = csr(u[seen], i[seen], np.ones(int(seen.sum()), dtype=np.float32), shape)
        self.seen.data[:] = 1.0
        return self

    sparse_scores = True  # a customer's own items only: the entries of `recency`

    def sparse_block(self, users: np.ndarray) -> sp.csr_matrix:
        """The scores of the pairs each customer interacted with (everything else is never proposed)."""
        rec = self.recency[users]
        rows = np.repeat(np.arange(len(users)), np.diff(rec.indptr))
        days = gather_pairs(self.ctx.bought[users], rows, rec.indices)
        seen = gather_pairs(self.seen[users], rows, rec.indices)
        r = rec.data
        bought = (days + r) * (days > 0) * (0.05 + self.rate[rec.indices])
        browsed = 0.01 * (seen > 0) * r * (days == 0)
        return sp.csr_matrix((bought + browsed, rec.indices.copy(), rec.indptr.copy()), shape=rec.shape)

    def items_of(self, users: np.ndarray) -> sp.csr_matrix:
        """users x items: 1 where the user interacted with the item before as_of."""
        m = self.recency[users].copy()
        m.data[:] = 1.0
        return m


def repurchase_days(events: pd.DataFrame) -> pd.Series:
    """Per item id, the median number of days between two purchase days of it by the same customer
    (items nobody bought on two days are absent): how soon a customer who just bought it may want it again."""
    p = events[events[C.EVENT] == C.PURCHASE]
    day = (p[C.TIMESTAMP].astype("int64") // (86400 * 10**9)).to_numpy()
    d = pd.DataFrame({"u": p[C.USER_ID].to_numpy(), "i": p[C.ITEM_ID].to_numpy(), "day": day})
    d = d.drop_duplicates().sort_values(["u", "i", "day"], kind="stable")
    u, i, dd = d["u"].to_numpy(), d["i"].to_numpy(), d["day"].to_numpy()
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1])
    gaps = pd.Series(np.diff(dd)[same].astype(np.float64), index=i[1:][same])
    return gaps.groupby(level=0).median()
