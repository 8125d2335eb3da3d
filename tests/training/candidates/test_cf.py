"""ALS candidates on a large catalog: an approximate index (faiss) instead of a dense customers x items
product, close to exact search, never proposing a customer's own items; pair scores stay exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from training.candidates import cf
from training.candidates.ann import InnerProductIndex
from training.candidates.base import Candidates, build_context, top_n_long, user_batches
from training.data import columns as C
from training.datasets.synthetic import generate


@pytest.fixture(scope="module")
def fitted():
    shop = generate(1500, 3000, seed=3)
    as_of = shop.events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1)
    ctx = build_context(shop.events, shop.items, as_of)
    return cf.ALSSource(iterations=8).fit(ctx)


def _keys(c, n_items: int) -> np.ndarray:
    return c.user * n_items + c.item


def test_the_index_finds_what_exact_search_finds(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fitted.ctx
    users = np.arange(ctx.n_users)
    exact = fitted.candidates(users, 30)  # a small catalog: exact
    assert fitted.ann is None
    monkeypatch.setattr(cf, "ANN_MIN_ITEMS", 0)
    approx = fitted.candidates(users, 30)
    recall = np.isin(_keys(exact, ctx.n_items), _keys(approx, ctx.n_items)).mean()
    assert recall >= 0.9, recall
    assert fitted.ann["recall_at_n"] >= 0.9 and fitted.ann["sample_users"] == cf.ANN_RECALL_SAMPLE
    assert fitted.ann["items"] == int(ctx.allowed.sum()) and 1 <= fitted.ann["nprobe"] < fitted.ann["nlist"]
    # never the customer's own items, nor a disallowed one; scores are the exact inner products, ranks 1..k
    own = ctx.weights[approx.user, approx.item]
    assert not np.asarray(own).ravel().any()
    assert ctx.allowed[approx.item].all()
    np.testing.assert_allclose(
        approx.score, np.einsum("ij,ij->i", fitted.uf[approx.user], fitted.vf[approx.item]), rtol=1e-5
    )
    for u in np.unique(approx.user)[:50]:
        mine = approx.user == u
        assert approx.rank[mine].tolist() == list(range(1, mine.sum() + 1))
        assert (np.diff(approx.score[mine]) <= 1e-6).all()


def test_pair_scores_are_exact_without_a_dense_block(fitted) -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, fitted.ctx.n_users, 5000)
    items = rng.integers(0, fitted.ctx.n_items, 5000)
    want = fitted.block(np.arange(fitted.ctx.n_users))[users, items]
    np.testing.assert_allclose(fitted.score_pairs(users, items), want, rtol=1e-4, atol=1e-6)


def test_index_search_orders_by_inner_product() -> None:
    rng = np.random.default_rng(5)
    factors = rng.normal(size=(4000, 16)).astype(np.float32) * rng.lognormal(size=(4000, 1)).astype(np.float32)
    items = np.arange(0, 4000, 2)  # only the even items are searchable
    index = InnerProductIndex(factors, items)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    assert index.tune(rng.normal(size=(200, 16)), 10) >= 0.95  # on other queries from the same source
    assert index.settings["tuning_recall"] >= 0.95
    scores, found = index.search(queries, 10)
    assert (found >= 0).all() and (found % 2 == 0).all()
    exact = np.argsort(-(queries @ factors[items].T), axis=1)[:, :10]
    hits = np.mean([len(set(f) & set(items[e])) / 10 for f, e in zip(found, exact)])
    assert hits >= 0.9, hits
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, factors[found]), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


@pytest.mark.parametrize("name", ["itemknn", "copurchase", "coview"])
def test_sparse_sources_rank_from_their_entries_as_from_a_dense_block(fitted, name: str) -> None:
    """The sparse path (the scores' entries) and the dense one (a users x items block) agree exactly."""
    from training.candidates.union import make_sources

    ctx = fitted.ctx
    (source,) = make_sources([name], 42)
    source.fit(ctx)
    assert source.sparse_scores
    users = np.arange(ctx.n_users)
    got = source.candidates(users, 40)
    want = source.dense_candidates(users, 40)
    assert len(got) == len(want) > 0
    for field in ("user", "rank"):
        assert (getattr(got, field) == getattr(want, field)).all(), field
    np.testing.assert_array_equal(got.score, want.score)
    # items differ only among equal scores at the cut, where the dense block's partition picks any of
    # them and the sparse path the lower index
    differ = got.item != want.item
    last = np.searchsorted(got.user, got.user, side="right") - 1  # each user's 40th (or last) candidate
    assert (got.score[differ] == got.score[last[differ]]).all()
    rng = np.random.default_rng(1)
    pu, pi = rng.integers(0, ctx.n_users, 3000), rng.integers(0, ctx.n_items, 3000)
    np.testing.assert_array_equal(source.score_pairs(pu, pi), source.block(users)[pu, pi])


def test_dense_candidates_are_the_same_on_one_thread_and_on_two(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.candidates import base

    users = np.arange(fitted.ctx.n_users)
    monkeypatch.setattr(base, "BLOCK_CELLS", 100 * fitted.ctx.n_items)  # 15 batches of 100 customers
    runs = {}
    for threads in (1, 2):
        monkeypatch.setattr(base, "cpus", lambda threads=threads: threads)
        runs[threads] = fitted.dense_candidates(users, 30)
    for field in ("user", "item", "score", "rank"):
        np.testing.assert_array_equal(getattr(runs[1], field), getattr(runs[2], field))
    c = runs[2]
    assert len(np.unique(c.user)) == len(users) and (np.diff(c.user) >= 0).all()  # every customer, in order
    owned = fitted.ctx.weights[c.user, c.item]
    assert not np.asarray(owned).any() and fitted.ctx.allowed[c.item].all()  # never own or disallowed items
    block = fitted.uf @ fitted.vf.T  # the reference: each customer's best 30 of the rest, best first
    block[:, ~fitted.ctx.allowed] = -np.inf
    block[fitted.ctx.weights.nonzero()] = -np.inf
    block[block <= fitted.min_score] = -np.inf
    for u in (0, 700, 1499):
        best = np.argsort(-block[u], kind="stable")[:30]
        np.testing.assert_array_equal(c.item[c.user == u], best[np.isfinite(block[u, best])])


def test_pair_scores_do_not_depend_on_the_chunk(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.candidates import cf

    rng = np.random.default_rng(2)
    users = np.sort(rng.integers(0, fitted.ctx.n_users, 1000))
    items = rng.integers(0, fitted.ctx.n_items, 1000)
    whole = fitted.score_pairs(users, items)
    monkeypatch.setattr(cf, "PAIR_CHUNK", 7)  # 143 chunks, the last one short
    np.testing.assert_array_equal(fitted.score_pairs(users, items), whole)


def test_sorted_entries_look_up_as_scipy_indexes() -> None:
    from training.candidates.base import SortedEntries, gather_pairs

    rng = np.random.default_rng(3)
    m = sp.random(300, 200, density=0.05, format="csr", random_state=4, dtype=np.float32)
    rows, cols = rng.integers(0, 300, 4000), rng.integers(0, 200, 4000)
    want = np.asarray(m[rows, cols]).ravel()
    entries = SortedEntries(m)
    for _ in range(2):  # made once, looked up again and again
        np.testing.assert_array_equal(entries.gather(rows, cols), want)
    np.testing.assert_array_equal(gather_pairs(m, rows, cols), want)
    assert not SortedEntries(sp.csr_matrix((3, 3), dtype=np.float32)).gather(rows[:5] % 3, cols[:5] % 3).any()


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 60),
    n_cols=st.integers(1, 40),
    density=st.floats(0.0, 1.0),
    block_cells=st.integers(1, 500),
    pairs=st.integers(0, 300),
    sorted_rows=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pairs_read_from_a_dense_buffer_as_scipy_indexes(
    n_rows, n_cols, density, block_cells, pairs, sorted_rows, seed
) -> None:
    """Any buffer size (one row at a time up to all of them), rows in any order, columns unsorted in a row."""
    from training.candidates import base
    from training.candidates.base import gather_pairs

    rng = np.random.default_rng(seed)
    m = sp.random(n_rows, n_cols, density=density, format="csr", random_state=seed, dtype=np.float32)
    for r in range(n_rows):  # a product's columns come in any order within a row
        lo, hi = m.indptr[r], m.indptr[r + 1]
        perm = lo + rng.permutation(hi - lo)
        m.indices[lo:hi], m.data[lo:hi] = m.indices[perm], m.data[perm]
    m.has_sorted_indices = False
    rows, cols = rng.integers(0, n_rows, pairs), rng.integers(0, n_cols, pairs)
    if sorted_rows:
        rows = np.sort(rows)
    want = np.asarray(m.tocsc()[rows, cols]).ravel().astype(np.float32) if pairs else np.zeros(0, np.float32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "BLOCK_CELLS", block_cells)
        np.testing.assert_array_equal(gather_pairs(m, rows, cols), want)


def test_als_drops_low_scores_after_its_selection_as_masking_them_first_would(fitted) -> None:
    ctx = fitted.ctx
    users = np.arange(ctx.n_users)
    masked_first = Candidates.concat(
        [top_n_long(fitted._masked_block(c), c, 40) for c in user_batches(users, ctx.n_items)]
    )
    got = fitted.dense_candidates(users, 40)
    for name in ("user", "item", "score", "rank"):
        np.testing.assert_array_equal(getattr(got, name), getattr(masked_first, name))
    assert (got.score > fitted.min_score).all()


def test_top_n_drops_what_is_not_above_its_floor() -> None:
    block = np.array([[3.0, -1.0, np.nan, 0.0, 2.0, -np.inf], [-2.0, -1.0, 0.0, np.nan, -np.inf, -3.0]], np.float32)
    got = top_n_long(block, np.array([7, 9]), 4, above=0.0)
    assert got.user.tolist() == [7, 7] and got.item.tolist() == [0, 4] and got.rank.tolist() == [1, 2]
    assert len(top_n_long(block, np.array([7, 9]), 4)) == 8  # without a floor: the best 4 of each row, all finite
