"""Offline evaluation of complement lists: given one item of a held-out basket, rank the rest of it.

For every held-out basket with at least two items that the training data knows, each such item is a
query: its list is scored against the basket's other items.
Hit rate@k (at least one of them in the top k) and NDCG@k (binary gains, ideal = min(k, |rest|)) are
averaged over queries. One protocol for beta tuning in the training run and for the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from training.baskets.baskets import Baskets

K = 10


def held_out_queries(
    b: Baskets, known: Callable[[str], bool], queries_per_basket: int | None = None, seed: int = 0
) -> list[tuple[str, set[str]]]:
    """(query item, the rest of its basket) pairs over baskets with at least two `known` items; every item
    of a basket is a query unless `queries_per_basket` caps them (a seeded sample)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(b.basket, kind="stable")
    basket, item = b.basket[order], b.item[order]
    bounds = np.flatnonzero(np.diff(basket)) + 1
    out = []
    for members in np.split(item, bounds):
        members = sorted({m for m in members if known(m)})
        if len(members) < 2:
            continue
        capped = queries_per_basket is not None and len(members) > queries_per_basket
        picks = rng.choice(members, queries_per_basket, replace=False) if capped else members
        out += [(q, set(members) - {q}) for q in picks]
    return out


def basket_metrics(lists: Callable[[str], Sequence[str]], queries: list[tuple[str, set[str]]], k: int = K) -> dict:
    """Hit rate, NDCG and recall at k over the queries; `lists(item)` is the item's ranked list."""
    if not queries:
        return {f"hit_rate@{k}": 0.0, f"ndcg@{k}": 0.0, f"ndcg@{k}_se": 0.0, f"recall@{k}": 0.0, "queries": 0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hit = recall = 0.0
    ndcgs = np.zeros(len(queries))
    for n, (q, rest) in enumerate(queries):
        top = [i for i in lists(q) if i != q][:k]
        gains = np.array([1.0 if i in rest else 0.0 for i in top])
        dcg = float((gains * discounts[: len(gains)]).sum())
        ideal = float(discounts[: min(k, len(rest))].sum())
        hit += 1.0 if gains.any() else 0.0
        ndcgs[n] = dcg / ideal
        recall += gains.sum() / len(rest)
    n = len(queries)
    return {
        f"hit_rate@{k}": hit / n,
        f"ndcg@{k}": float(ndcgs.mean()),
        f"ndcg@{k}_se": float(ndcgs.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
        f"recall@{k}": recall / n,
        "queries": n,
    }
