"""The context's own frame (integer ids, the columns sources read), and the statistics computed from it on
sorted integer keys: what the frame-wide groupbys and copies they replace gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from training.candidates.base import CONTEXT_COLUMNS, build_context, sparse_rows_top_k
from training.candidates.copurchase import basket_ids, cooccurrence
from training.candidates.history import HistorySource
from training.candidates.union import make_sources
from training.data import columns as C
from training.datasets.synthetic import generate
from training.ranking.features import FeatureBuilder


@pytest.fixture(scope="module")
def shop():
    return generate(600, 900, seed=11)


@pytest.fixture(scope="module")
def ctx(shop):
    return build_context(shop.events, shop.items, shop.events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1))


def test_the_frame_holds_integer_ids_and_the_columns_sources_read(shop, ctx) -> None:
    assert C.USER_ID not in ctx.events.columns and C.ITEM_ID not in ctx.events.columns
    assert set(ctx.events.columns) == {c for c in CONTEXT_COLUMNS if c in shop.events.columns} | {"u", "i", "age_days"}
    assert isinstance(ctx.events[C.EVENT].dtype, pd.CategoricalDtype)
    weighted = shop.events[shop.events[C.EVENT].map(C.DEFAULT_EVENT_WEIGHTS).fillna(0) > 0]
    assert len(ctx.events) == len(weighted)
    np.testing.assert_array_equal(ctx.users.ids[ctx.events["u"]], weighted[C.USER_ID].to_numpy(dtype=object))
    np.testing.assert_array_equal(ctx.items.ids[ctx.events["i"]], weighted[C.ITEM_ID].to_numpy(dtype=object))


def test_later_events_change_nothing(shop) -> None:
    """A label window hands the context every event: it is the context of the events before its start."""
    ev = shop.events
    as_of = ev[C.TIMESTAMP].quantile(0.7)
    whole, before = build_context(ev, shop.items, as_of), build_context(ev[ev[C.TIMESTAMP] < as_of], shop.items, as_of)
    pd.testing.assert_frame_equal(whole.events, before.events)
    np.testing.assert_array_equal(whole.users.ids, before.users.ids)
    np.testing.assert_array_equal(whole.items.ids, before.items.ids)
    for name in ("weights", "history", "bought"):
        assert (getattr(whole, name) != getattr(before, name)).nnz == 0


def test_history_recency_is_each_pairs_last_event(ctx) -> None:
    source = HistorySource().fit(ctx)
    last = ctx.events.groupby(["u", "i"])["age_days"].min()
    got = source.recency[last.index.get_level_values(0), last.index.get_level_values(1)].A1
    np.testing.assert_array_equal(got, np.exp(-last.to_numpy() / 90.0).astype(np.float32))
    assert source.recency.nnz == len(last)
    views = ctx.events[ctx.events[C.EVENT] != C.PURCHASE]
    assert source.seen.nnz == len(views.drop_duplicates(["u", "i"]))


def test_browsing_features_are_the_pair_groupby(ctx) -> None:
    builder = FeatureBuilder(ctx)
    other = ctx.events[ctx.events[C.EVENT] != C.PURCHASE]
    g = other.groupby(["u", "i"], sort=True)
    keys = g.size().index.get_level_values(0) * ctx.n_items + g.size().index.get_level_values(1)
    np.testing.assert_array_equal(builder.uv_keys, keys.to_numpy())
    np.testing.assert_array_equal(builder.uv["views"], g.size().to_numpy(dtype=float))
    np.testing.assert_array_equal(builder.uv["carts"], g[C.EVENT].apply(lambda e: (e == C.CART).sum()).to_numpy(float))
    np.testing.assert_array_equal(builder.uv["last_view"], g["age_days"].min().to_numpy())


def _cooccurrence_by_definition(ev: pd.DataFrame, n_items: int, use_orders: bool, neighbours: int) -> sp.csr_matrix:
    """Baskets de-duplicated as a frame, the cosine as diag(1/norm) @ counts @ diag(1/norm)."""
    b = basket_ids(ev, use_orders)
    pairs = pd.DataFrame({"b": b, "i": ev["i"].to_numpy()}).drop_duplicates()
    size = np.bincount(pairs["b"], minlength=int(b.max()) + 1).astype(np.float32)
    pairs = pairs[size[pairs["b"].to_numpy()] >= 2]
    codes, uniq = pd.factorize(pairs["b"])
    w = (1.0 / np.log2(1.0 + size[uniq]))[codes].astype(np.float32)
    basket = sp.csr_matrix((np.sqrt(w), (codes, pairs["i"].to_numpy())), shape=(len(uniq), n_items))
    co = (basket.T @ basket).tocsr()
    diag = co.diagonal()
    co.setdiag(0)
    co.eliminate_zeros()
    norm = np.sqrt(np.where(diag > 0, diag, 1.0))
    return sparse_rows_top_k((sp.diags(1.0 / norm) @ co @ sp.diags(1.0 / norm)).astype(np.float32), neighbours)


@pytest.mark.parametrize("use_orders", [True, False])
@pytest.mark.parametrize("neighbours", [5, 100])
def test_cooccurrence_is_the_cosine_of_basket_counts(ctx, use_orders: bool, neighbours: int) -> None:
    ev = ctx.events
    if use_orders:  # orders of a customer's day, and some lines without one (their session stands in)
        day = (ev["age_days"] // 1).astype(int).astype(str)
        ev = ev.assign(**{C.ORDER_ID: np.where(ev["u"] % 5 > 0, ev["u"].astype(str) + "-" + day, "")})
    got = cooccurrence(ev, ctx.n_items, use_orders, neighbours)
    want = _cooccurrence_by_definition(ev, ctx.n_items, use_orders, neighbours)
    got.sort_indices()
    want.sort_indices()
    assert got.nnz == want.nnz > 0
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # the same rounding, not only close


def test_item_based_sources_share_one_log_scaled_history(ctx) -> None:
    sources = {s.name: s.fit(ctx) for s in make_sources(["itemknn", "copurchase", "coview"], 42)}
    assert all(s.h is ctx.log_history for s in sources.values())
    assert ctx.log_history.dtype == np.float32
    np.testing.assert_array_equal(ctx.log_history.indices, ctx.history.indices)
    np.testing.assert_array_equal(ctx.log_history.data, np.log1p(ctx.history.data))


@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_bought_counts_distinct_purchase_days_of_the_stamps_own_clock(shop, tz) -> None:
    events = shop.events.copy()
    stamps = events[C.TIMESTAMP].dt.tz_convert("UTC")
    events[C.TIMESTAMP] = stamps.dt.tz_localize(None) if tz is None else stamps.dt.tz_convert(tz)
    ctx = build_context(events, shop.items, events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1))
    p = ctx.events[ctx.events[C.EVENT] == C.PURCHASE]
    days = p.assign(_d=p[C.TIMESTAMP].dt.floor("D")).drop_duplicates(["u", "i", "_d"])
    want = sp.coo_matrix((np.ones(len(days), np.float32), (days["u"], days["i"])), shape=ctx.bought.shape).tocsr()
    assert (ctx.bought != want).nnz == 0 and ctx.bought.max() >= 2  # some items bought on several days
