"""Category and brand affinity: the customer's share of (decayed) interest in a category or brand, times
the item's recent popularity within it. Proposes best sellers of the customer's favourite categories.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from training.candidates.base import BlockSource, Candidates, Context, _sparse_batches, sparse_pairs
from training.candidates.popular import recent_buyers


def group_affinity(ctx: Context, groups: np.ndarray) -> sp.csr_matrix:
    """users x groups: share of the user's position-decayed history weight in each group (-1: no group)."""
    h = ctx.history.tocoo()
    g = groups[h.col]
    ok = g >= 0
    n_groups = int(groups.max()) + 1 if len(groups) and groups.max() >= 0 else 0
    m = sp.csr_matrix((h.data[ok], (h.row[ok], g[ok])), shape=(ctx.n_users, max(n_groups, 1)), dtype=np.float32)
    total = np.asarray(ctx.history.sum(axis=1)).ravel()
    return (sp.diags(1.0 / np.where(total > 0, total, 1.0)) @ m).tocsr().astype(np.float32)


class CategorySource(BlockSource):
    name = "category"
    groups_attr = "item_category"

    def fit(self, ctx: Context) -> CategorySource:
        super().fit(ctx)
        groups = getattr(ctx, self.groups_attr)
        self.groups = groups
        self.aff = group_affinity(ctx, groups)
        pop = recent_buyers(ctx)
        # popularity relative to the group's best seller, so small categories are not drowned
        best = np.zeros(self.aff.shape[1], dtype=np.float32)
        ok = groups >= 0
        np.maximum.at(best, groups[ok], pop[ok])
        rel = np.zeros_like(pop)
        rel[ok] = pop[ok] / np.where(best[groups[ok]] > 0, best[groups[ok]], 1.0)
        self.pop = np.log1p(pop) * rel  # volume still counts: a category's only item with one sale is no star
        self.active = bool(ok.any()) and self.aff.shape[1] > 1
        return self

    def block(self, users: np.ndarray) -> np.ndarray:
        if not self.active:
            return np.zeros((len(users), self.ctx.n_items), dtype=np.float32)
        a = self.aff[users].toarray()
        g = np.where(self.groups >= 0, self.groups, 0)
        out = a[:, g] * self.pop
        out[:, self.groups < 0] = 0.0
        return out

    def candidates(self, users: np.ndarray, n: int) -> Candidates:
        """The best n of a customer's groups' n best sellers each (the score is the customer's share in the
        group times the item's popularity, so nothing below a group's n-th best seller can be needed):
        no customers x items block."""
        users = np.asarray(users, dtype=np.int64)
        if not self.active or n <= 0:
            return Candidates.empty()
        heads, starts = self._group_heads(n)
        parts = []
        for chunk in _sparse_batches(users):
            a = self.aff[chunk].tocoo()
            counts = (starts[a.col + 1] - starts[a.col]).astype(np.int64)
            rows = np.repeat(a.row, counts)
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            cols = heads[np.repeat(starts[a.col], counts) + within]
            vals = np.repeat(a.data, counts) * self.pop[cols]
            m = sp.csr_matrix((vals, (rows, cols)), shape=(len(chunk), self.ctx.n_items), dtype=np.float32)
            parts.append(self._sparse_top_n(chunk, n, m))
        return Candidates.concat(parts)

    def _group_heads(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per group, its n best proposable items by popularity (ties: the lower item index), concatenated
        group by group, and where each group's run starts."""
        ok = (self.groups >= 0) & self.ctx.allowed & np.isfinite(self.pop) & (self.pop > self.min_score)
        items = np.flatnonzero(ok)
        order = np.lexsort((items, -self.pop[items], self.groups[items]))
        items, g = items[order], self.groups[items[order]]
        position = np.arange(len(items)) - np.searchsorted(g, g)
        items, g = items[position < n], g[position < n]
        starts = np.searchsorted(g, np.arange(self.aff.shape[1] + 1))
        return items.astype(np.int64), starts

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        if not self.active:
            return np.zeros(len(users), dtype=np.float32)
        return np.nan_to_num(self.affinity_pairs(users, items) * self.pop[items], nan=0.0, neginf=0.0, posinf=0.0)

    def affinity_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The user's share in the item's group, per pair (0 for items without a group)."""
        g = self.groups[items]
        out = np.zeros(len(users), dtype=np.float32)
        ok = g >= 0
        if ok.any():
            out[ok] = sparse_pairs(self.aff, users[ok], g[ok])
        return out


class BrandSource(CategorySource):
    name = "brand"
    groups_attr = "item_brand"
