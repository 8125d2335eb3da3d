"""History and popular/trending candidates without a customers x items block: the same proposals and pair
scores as the dense definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.candidates.base import build_context, top_n_long
from training.candidates.union import make_sources
from training.data import columns as C
from training.datasets.synthetic import generate


@pytest.fixture(scope="module")
def ctx():
    shop = generate(800, 1500, seed=5)
    return build_context(shop.events, shop.items, shop.events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1))


def _history_by_definition(source, users: np.ndarray) -> np.ndarray:
    """The history score as a dense block: (distinct days + recency) x (0.05 + repurchase rate) for bought
    items, 0.01 x recency for items only viewed or carted, never anything else."""
    days = source.ctx.bought[users].toarray()
    rec = source.recency[users].toarray()
    bought = (days + rec) * (days > 0) * (0.05 + source.rate)
    browsed = 0.01 * (source.seen[users].toarray() > 0) * rec * (days == 0)
    out = bought + browsed
    return np.where(out > 0, out, -np.inf)


def _same(got, want) -> None:
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got.user, want.user)
    np.testing.assert_array_equal(got.rank, want.rank)
    np.testing.assert_array_equal(got.score, want.score)
    # items differ only among equal scores at the cut (the dense partition picks any of them)
    differ = got.item != want.item
    last = np.searchsorted(got.user, got.user, side="right") - 1
    assert (got.score[differ] == got.score[last[differ]]).all()


def test_history_proposes_from_its_entries_what_the_dense_definition_gives(ctx) -> None:
    (source,) = make_sources(["history"], 42)
    source.fit(ctx)
    users = np.arange(ctx.n_users)
    reference = _history_by_definition(source, users).astype(np.float32)
    reference[:, ~ctx.allowed] = -np.inf
    _same(source.candidates(users, 30), top_n_long(reference, users, 30))
    rng = np.random.default_rng(2)
    pu, pi = rng.integers(0, ctx.n_users, 4000), rng.integers(0, ctx.n_items, 4000)
    own_u, own_i = ctx.weights.nonzero()  # random pairs, and pairs the customers interacted with
    pu, pi = np.r_[pu, own_u[:2000]], np.r_[pi, own_i[:2000]]
    want = np.nan_to_num(_history_by_definition(source, users)[pu, pi].astype(np.float32), neginf=0.0)
    np.testing.assert_array_equal(source.score_pairs(pu, pi), want)
    assert (want > 0).sum() > 1000


@pytest.mark.parametrize("name", ["popular", "trending"])
def test_popular_lists_are_ranked_once_for_everyone(ctx, name: str) -> None:
    (source,) = make_sources([name], 42)
    source.fit(ctx)
    users = np.arange(0, ctx.n_users, 3)
    _same(source.candidates(users, 25), source.dense_candidates(users, 25))
    rng = np.random.default_rng(3)
    pu, pi = rng.integers(0, ctx.n_users, 3000), rng.integers(0, ctx.n_items, 3000)
    np.testing.assert_array_equal(
        source.score_pairs(pu, pi), np.asarray(source.block(pu), dtype=np.float32)[np.arange(3000), pi]
    )


@pytest.mark.parametrize("name", ["category", "brand"])
def test_group_affinity_proposes_from_each_groups_best_sellers_what_the_dense_block_gives(ctx, name: str) -> None:
    (source,) = make_sources([name], 42)
    source.fit(ctx)
    assert source.active
    users = np.arange(ctx.n_users)
    _same(source.candidates(users, 40), source.dense_candidates(users, 40))
    rng = np.random.default_rng(4)
    pu, pi = rng.integers(0, ctx.n_users, 3000), rng.integers(0, ctx.n_items, 3000)
    want = np.nan_to_num(np.asarray(source.block(np.arange(ctx.n_users)), dtype=np.float32)[pu, pi], neginf=0.0)
    got = source.score_pairs(pu, pi)
    np.testing.assert_array_equal(got, want)
    assert (got > 0).sum() > 100
