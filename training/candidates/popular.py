"""Popular (distinct recent buyers, decayed) and trending (recent lift over the month before) items.

The same ranked list for everyone; the features keep the scores, so the ranker sees popularity for
candidates of every other source too.
"""

from __future__ import annotations

import numpy as np

from training.arrays import KeyGroups
from training.candidates.base import BlockSource, Candidates, Context, top_n_long
from training.data import columns as C


def recent_buyers(ctx: Context, half_life_days: float = 14.0) -> np.ndarray:
    """Per item, its buyers weighted by 0.5 ** (days since their last purchase / half-life)."""
    if ctx.item_state is not None and half_life_days == 14.0:
        return ctx.item_state.recent_buyers
    p = ctx.purchases()
    if p.empty:
        p = ctx.events
    pairs = KeyGroups(p["u"].to_numpy() * ctx.n_items + p["i"].to_numpy())
    w = np.power(0.5, pairs.min(p["age_days"].to_numpy()) / half_life_days)
    return np.bincount(pairs.keys % ctx.n_items, weights=w, minlength=ctx.n_items).astype(np.float32)


def trend(ctx: Context, window_days: float = 7.0, baseline_days: float = 28.0) -> np.ndarray:
    """log(1 + recent buyers) x lift of the last week's daily rate over the four weeks before (+1 smoothed)."""
    if ctx.item_state is not None and (window_days, baseline_days) == (7.0, 28.0):
        return ctx.item_state.trend
    p = ctx.purchases() if (ctx.events[C.EVENT] == C.PURCHASE).any() else ctx.events
    age = p["age_days"].to_numpy()
    i = p["i"].to_numpy()
    recent = np.bincount(i[age <= window_days], minlength=ctx.n_items) / window_days
    base_mask = (age > window_days) & (age <= window_days + baseline_days)
    base = np.bincount(i[base_mask], minlength=ctx.n_items) / baseline_days
    lift = (recent + 1.0 / window_days) / (base + 1.0 / window_days)
    return np.where(recent > 0, np.log1p(recent * window_days) * lift, 0.0).astype(np.float32)


class PopularSource(BlockSource):
    name = "popular"

    def fit(self, ctx: Context) -> PopularSource:
        super().fit(ctx)
        self.scores = recent_buyers(ctx)
        return self

    def block(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(users), self.ctx.n_items))

    def candidates(self, users: np.ndarray, n: int) -> Candidates:
        """The same top n for every customer, ranked once (what a block per batch of customers gives)."""
        users = np.asarray(users, dtype=np.int64)
        one = top_n_long(self._masked_block(users[:1]), np.zeros(1, dtype=np.int64), n) if len(users) else None
        if one is None or not len(one):
            return Candidates.empty()
        k = len(one)
        return Candidates(
            np.repeat(users, k),
            np.tile(one.item, len(users)),
            np.tile(one.score, len(users)),
            np.tile(one.rank, len(users)),
        )

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.nan_to_num(
            self.scores[np.asarray(items, dtype=np.int64)].astype(np.float32), nan=0.0, neginf=0.0, posinf=0.0
        )


class TrendingSource(PopularSource):
    name = "trending"

    def fit(self, ctx: Context) -> TrendingSource:
        BlockSource.fit(self, ctx)
        self.scores = trend(ctx)
        return self
