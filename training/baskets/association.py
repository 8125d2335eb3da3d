"""Association measures between items bought in the same basket, and a ranked complement list per item.

For items A and B over N baskets: support(A, B) = n_AB / N, confidence(A -> B) = n_AB / n_A and
lift(A, B) = n_AB N / (n_A n_B). Pairs below `min_support` baskets or `min_lift` are dropped (chance
co-occurrence). For a given A, confidence orders B exactly like the raw count n_AB, which favours
items that are in every basket anyway; lift favours rare items seen together once or twice. The
ranking score w_AB / n_B ** beta sits between them (beta 0: counts, 1: lift), where w_AB counts the
baskets with both items with older baskets halved every `half_life_days` (assortments and seasons
move: last month's pairs predict next month's baskets better than last year's). Beta and the half-life
are chosen on the last baskets of the training data (training/baskets/model.py); the measures shown
(baskets together, confidence, lift) are plain counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.baskets.baskets import Baskets

MIN_SUPPORT = 2  # baskets
MIN_LIFT = 1.0
BETAS = (0.0, 0.1, 0.25, 0.5)
HALF_LIVES_DAYS: tuple[float | None, ...] = (None, 30.0, 60.0, 120.0)


@dataclass
class Ranked:
    """Per item (row): complements best first, with their measures."""

    items: list[np.ndarray]  # item positions per row
    scores: list[np.ndarray]
    baskets: list[np.ndarray]
    confidence: list[np.ndarray]
    lift: list[np.ndarray]


@dataclass
class Associations:
    item_ids: np.ndarray  # external ids of rows and columns
    item_baskets: np.ndarray  # n_A: baskets holding each item
    n_baskets: int
    co: sp.csr_matrix  # n_AB, diagonal removed
    weighted: sp.csr_matrix  # the same pairs, baskets weighted by age (== co without a half-life)

    @classmethod
    def count(cls, b: Baskets, item_ids: np.ndarray | None = None, half_life_days: float | None = None) -> Associations:
        """Co-occurrence counts over the baskets; `item_ids` fixes the item order (others are dropped)."""
        return next(cls.count_each(b, (half_life_days,), item_ids))

    @classmethod
    def count_each(
        cls, b: Baskets, half_lives_days: tuple[float | None, ...], item_ids: np.ndarray | None = None
    ) -> Iterator[Associations]:
        """`count` for each half-life in turn (one weighted matrix alive at a time), the plain counts made once."""
        if item_ids is None:
            item_ids = pd.unique(b.item)
        index = pd.Index(item_ids)
        col = index.get_indexer(b.item)
        keep = col >= 0
        basket_item = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (b.basket[keep], col[keep])),
            shape=(max(b.n_baskets, 1), len(index)),
        )
        basket_item.data[:] = 1.0  # one basket counts once per item
        co = _pairs(basket_item, basket_item)
        n_a = np.asarray(basket_item.sum(axis=0)).ravel().astype(np.int64)
        for half_life_days in half_lives_days:
            weighted = co
            if half_life_days and b.n_baskets:
                age = np.asarray((b.started.max() - b.started) / np.timedelta64(1, "D"), dtype=np.float64)
                # floored so that no pair decays to nothing: co and weighted keep the same pairs, row by row
                decay = np.maximum(np.power(0.5, age / half_life_days), 1e-12)
                weighted = _pairs(basket_item, sp.diags(decay) @ basket_item.astype(np.float64))
            yield cls(np.asarray(item_ids, dtype=object), n_a, b.n_baskets, co, weighted)

    def rank(
        self,
        n: int,
        beta: float,
        min_support: int = MIN_SUPPORT,
        min_lift: float = MIN_LIFT,
        allowed: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> Ranked:
        """Top-n complements per item by n_AB / n_B ** beta among pairs over both thresholds; with `rows`
        (item positions), only those items' lists, in that order."""
        out = Ranked([], [], [], [], [])
        nb = self.item_baskets.astype(np.float64)
        for a in range(self.co.shape[0]) if rows is None else rows:
            lo, hi = self.co.indptr[a], self.co.indptr[a + 1]
            cols = self.co.indices[lo:hi]
            counts = self.co.data[lo:hi].astype(np.float64)
            recent = self.weighted.data[lo:hi].astype(np.float64)
            lift = counts * self.n_baskets / np.maximum(nb[a] * nb[cols], 1.0)
            keep = (counts >= min_support) & (lift >= min_lift)
            if allowed is not None:
                keep &= allowed[cols]
            cols, counts, lift, recent = cols[keep], counts[keep], lift[keep], recent[keep]
            score = recent / np.power(nb[cols], beta)
            order = np.lexsort((cols, -score))[:n]  # ties: stable by item position
            out.items.append(cols[order])
            top = score[order[0]] if len(order) else 1.0
            out.scores.append((score[order] / top).astype(np.float32))
            out.baskets.append(counts[order].astype(np.int64))
            out.confidence.append((counts[order] / max(nb[a], 1.0)).astype(np.float32))
            out.lift.append(lift[order].astype(np.float32))
        return out

    def summary(self, ranked: Ranked, top: int = 10) -> dict:
        """Counts for the report and the strongest rules by lift among the kept pairs."""
        rules = []
        for a, (cols, counts, conf, lift) in enumerate(
            zip(ranked.items, ranked.baskets, ranked.confidence, ranked.lift)
        ):
            for c, k, cf, lf in zip(cols, counts, conf, lift):
                rules.append((float(lf), int(k), float(cf), a, int(c)))
        rules.sort(key=lambda r: (-r[0], -r[1], r[3], r[4]))
        return {
            "co_occurring_pairs": int(self.co.nnz),
            "kept_pairs": len(rules),
            "items_with_list": int(sum(1 for cols in ranked.items if len(cols))),
            "top_rules_by_lift": [
                {
                    "item": str(self.item_ids[a]),
                    "with": str(self.item_ids[c]),
                    "baskets": k,
                    "support": round(k / max(self.n_baskets, 1), 6),
                    "confidence": round(cf, 4),
                    "lift": round(lf, 2),
                }
                for lf, k, cf, a, c in rules[:top]
            ],
        }


def _pairs(left: sp.csr_matrix, right: sp.csr_matrix) -> sp.csr_matrix:
    """items x items of left.T @ right, diagonal removed, indices sorted (rows of co and weighted align)."""
    co = (left.T @ right).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    co.sort_indices()
    return co
