"""The default set of sources for a context, and their union as one wide candidate table.

Each source proposes up to its own quota per user; the union keeps every proposed (user, item) pair
once, with every source's score for it (sources score pairs they did not propose too) and its rank
in each source that proposed it (NaN elsewhere). This table is what the ranker's features extend.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from training.arrays import unique_sorted
from training.candidates.affinity import BrandSource, CategorySource
from training.candidates.base import Candidates, CandidateSource, Context
from training.candidates.cf import ALSSource, EASESource, ItemKNNSource
from training.candidates.copurchase import CoPurchaseSource, CoViewSource
from training.candidates.history import HistorySource
from training.candidates.popular import PopularSource, TrendingSource
from training.data import columns as C

# Candidates per user and source: a few hundred in all before de-duplication.
QUOTAS: dict[str, int] = {
    "history": 200,
    "ease": 100,
    "itemknn": 60,
    "als": 60,
    "copurchase": 100,
    "coview": 50,
    "category": 40,
    "brand": 30,
    "popular": 40,
    "trending": 20,
}


def source_names(ctx: Context) -> list[str]:
    """The sources that have something to work with in this context (EASE only for catalogs it fits).

    Chosen once per run (on the serving context) so every context gets the same feature columns.
    """
    names = ["history"]
    if EASESource.fits(ctx):
        names.append("ease")
    names += ["itemknn", "als", "copurchase"]
    if (ctx.events[C.EVENT] != C.PURCHASE).any():
        names.append("coview")
    names.append("category")
    if (ctx.item_brand >= 0).mean() > 0.5:
        names.append("brand")
    return names + ["popular", "trending"]


def make_sources(names: list[str], seed: int) -> list[CandidateSource]:
    """Fresh, unfitted sources by name."""
    factories = {
        "history": HistorySource,
        "ease": EASESource,
        "itemknn": ItemKNNSource,
        "als": lambda: ALSSource(seed=seed),
        "copurchase": CoPurchaseSource,
        "coview": CoViewSource,
        "category": CategorySource,
        "brand": BrandSource,
        "popular": PopularSource,
        "trending": TrendingSource,
    }
    return [factories[n]() for n in names]


def fit_sources(sources: list[CandidateSource], ctx: Context, timings: dict[str, float] | None = None) -> None:
    for s in sources:
        t = time.perf_counter()
        s.fit(ctx)
        if timings is not None:
            timings[f"fit_{s.name}"] = timings.get(f"fit_{s.name}", 0.0) + time.perf_counter() - t


RANK_OFFSET = 10.0  # reciprocal-rank fusion: w / (rank + offset)


def fused_ranks(ranks: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """Reciprocal-rank fusion: per pair, the sum over the sources that proposed it of w / (rank + offset)
    (rank NaN = not proposed; w = 1 unless `weights` says otherwise)."""
    weights = weights or {}
    total = np.zeros(len(next(iter(ranks.values()))) if ranks else 0, dtype=np.float64)
    for name, r in ranks.items():
        r = r.astype(np.float64, copy=False)
        total += np.where(np.isnan(r), 0.0, weights.get(name, 1.0) / (r + RANK_OFFSET))
    return total


def propose(
    sources: list[CandidateSource],
    users: np.ndarray,
    n_items: int,
    quotas: dict[str, int] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every proposed pair once, as sorted keys u * n_items + i, and each source's rank for it (NaN where
    it did not propose it)."""
    quotas = dict(QUOTAS if quotas is None else quotas)
    proposed: dict[str, Candidates] = {}
    for s in sources:
        t = time.perf_counter()
        proposed[s.name] = s.candidates(users, quotas.get(s.name, 50))
        if timings is not None:
            timings[f"candidates_{s.name}"] = timings.get(f"candidates_{s.name}", 0.0) + time.perf_counter() - t
    keys = unique_sorted(
        np.concatenate([c.user * n_items + c.item for c in proposed.values()] + [np.zeros(0, np.int64)])
    )
    ranks = {}
    for name, c in proposed.items():
        rank = np.full(len(keys), np.nan, dtype=np.float32)
        rank[np.searchsorted(keys, c.user * n_items + c.item)] = c.rank
        ranks[name] = rank
    return keys, ranks


def shortlist(keys: np.ndarray, ranks: dict[str, np.ndarray], n_items: int, limit: int) -> np.ndarray:
    """Which pairs to keep: every pair the history source proposed (the customer's own items: the
    order-again list is taken from them) and, of the others, each customer's `limit` best by
    reciprocal-rank fusion of the sources' ranks (ties: the lower item index).

    Features and the ranker then work on these only. Fusing ranks needs no score of any pair, so the cut
    comes before the costly part (every source scoring every pair, features, the model). Whatever the
    blend's history weight, its best `limit` items the customer never had are all kept.
    """
    own = ~np.isnan(ranks["history"]) if "history" in ranks else np.zeros(len(keys), dtype=bool)
    others = np.flatnonzero(~own)
    fused = fused_ranks({k: v[others] for k, v in ranks.items() if k != "history"})
    users = keys[others] // n_items
    order = np.lexsort((-fused, users))  # stable: ties keep the keys' item order
    sorted_users = users[order]
    position = np.arange(len(order)) - np.searchsorted(sorted_users, sorted_users)
    keep = own.copy()
    keep[others[order[position < limit]]] = True
    return keep


def union(
    sources: list[CandidateSource],
    users: np.ndarray,
    n_items: int,
    quotas: dict[str, int] | None = None,
    timings: dict[str, float] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Wide table: u, i, then s_<source> (score) and r_<source> (rank or NaN) per source, sorted by (u, i).

    With `limit`, only the `shortlist` of the proposed pairs."""
    keys, ranks = shortlisted(*propose(sources, users, n_items, quotas, timings), n_items, limit)
    return table_of(sources, keys, ranks, n_items, timings)


def shortlisted(
    keys: np.ndarray, ranks: dict[str, np.ndarray], n_items: int, limit: int | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The `shortlist` of proposed pairs (all of them when `limit` is None)."""
    if limit is None:
        return keys, ranks
    keep = shortlist(keys, ranks, n_items, limit)
    return keys[keep], {name: r[keep] for name, r in ranks.items()}


def table_of(
    sources: list[CandidateSource],
    keys: np.ndarray,
    ranks: dict[str, np.ndarray],
    n_items: int,
    timings: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The wide table of these pairs: every source scores every pair (a feature for the pairs it did not
    propose)."""
    out = {"u": keys // n_items, "i": keys % n_items}
    for s in sources:
        t = time.perf_counter()
        out[f"s_{s.name}"] = s.score_pairs(out["u"], out["i"])
        out[f"r_{s.name}"] = ranks[s.name]
        if timings is not None:
            timings[f"pairs_{s.name}"] = timings.get(f"pairs_{s.name}", 0.0) + time.perf_counter() - t
    return pd.DataFrame(out)


def source_recall(table: pd.DataFrame, truth: dict[int, set[int]], names: list[str]) -> dict[str, float]:
    """Share of the truth pairs each source proposed, and the union ("all")."""
    n_truth = sum(len(v) for v in truth.values())
    if not n_truth:
        return {}
    tu = np.fromiter((u for u, items in truth.items() for _ in items), dtype=np.int64)
    ti = np.fromiter((i for items in truth.values() for i in items), dtype=np.int64)
    t = pd.DataFrame({"u": tu, "i": ti, "hit": 1})
    m = table.merge(t, on=["u", "i"], how="inner")
    out = {name: float(m[f"r_{name}"].notna().sum() / n_truth) for name in names}
    out["all"] = float(len(m) / n_truth)
    return out
