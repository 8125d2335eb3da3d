"""The union of the sources' proposals and its shortlist (what the features and the ranker see)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.candidates.base import build_context
from training.candidates.union import (
    QUOTAS,
    fit_sources,
    fused_ranks,
    make_sources,
    propose,
    shortlist,
    source_names,
    union,
)
from training.datasets.grocery import generate
from training.ranking.stage import blend_scores


def _fitted():
    shop = generate(n_users=120, days=120, seed=11)
    ctx = build_context(shop.events, shop.items, shop.events["timestamp"].max() + pd.Timedelta(seconds=1))
    names = source_names(ctx)
    sources = make_sources(names, 42)
    fit_sources(sources, ctx)
    return ctx, names, sources


def test_fused_ranks_by_hand() -> None:
    ranks = {"a": np.array([1.0, np.nan, 3.0], dtype=np.float32), "b": np.array([2.0, 1.0, np.nan], dtype=np.float32)}
    np.testing.assert_allclose(fused_ranks(ranks), [1 / 11 + 1 / 12, 1 / 11, 1 / 13])
    np.testing.assert_allclose(fused_ranks(ranks, {"a": 4.0}), [4 / 11 + 1 / 12, 1 / 11, 4 / 13])


def test_shortlist_keeps_own_items_and_the_best_fused_others() -> None:
    n_items = 10
    # customer 0: own items 1, 2 (history proposed them); others 3..7 ranked by source "x"
    keys = np.array([1, 2, 3, 4, 5, 6, 7, 10 + 3, 10 + 4], dtype=np.int64)
    nan = np.nan
    ranks = {
        "history": np.array([1, 2, nan, nan, nan, nan, nan, nan, nan], dtype=np.float32),
        "x": np.array([nan, nan, 5, 1, 3, 2, 4, 2, 1], dtype=np.float32),
    }
    keep = shortlist(keys, ranks, n_items, 2)
    assert set(keys[keep].tolist()) == {1, 2, 4, 6, 13, 14}
    keep = shortlist(keys, ranks, n_items, 0)
    assert set(keys[keep].tolist()) == {1, 2}


def test_union_with_a_limit_is_the_shortlist_of_the_whole_union() -> None:
    ctx, names, sources = _fitted()
    users = np.arange(ctx.n_users)
    full = union(sources, users, ctx.n_items, QUOTAS)
    limit = 15
    short = union(sources, users, ctx.n_items, QUOTAS, limit=limit)
    keys, ranks = propose(sources, users, ctx.n_items, QUOTAS)
    assert len(short) < len(full) and len(keys) == len(full)
    # the same rows as the whole union restricted to the shortlist: scores and ranks unchanged
    merged = short.merge(full, on=["u", "i"], suffixes=("", "_full"), validate="one_to_one")
    assert len(merged) == len(short)
    for name in names:
        np.testing.assert_array_equal(merged[f"s_{name}"], merged[f"s_{name}_full"])
        np.testing.assert_array_equal(merged[f"r_{name}"], merged[f"r_{name}_full"])
    # every customer keeps all own (history) items, and at most `limit` others
    own = short["r_history"].notna()
    assert own.sum() == full["r_history"].notna().sum()
    assert short[~own].groupby("u").size().max() <= limit
    # whatever the blend's history weight, its best items the customer never had survive the cut
    for hw in (1.0, 64.0):
        f = full.assign(b=blend_scores(full, names, hw))
        s = short.assign(b=blend_scores(short, names, hw))
        best = lambda t: t[t["r_history"].isna()].sort_values(["u", "b", "i"], ascending=[True, False, True])  # noqa: E731
        np.testing.assert_array_equal(
            best(f).groupby("u").head(limit)[["u", "i"]].to_numpy(),
            best(s).groupby("u").head(limit)[["u", "i"]].to_numpy(),
        )
