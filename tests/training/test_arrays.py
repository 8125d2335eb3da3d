"""The array helpers are the numpy and pandas calls they replace: np.unique, the lexsort cut of each row's n best,
lexsort, a groupby on one key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.arrays import KeyGroups, order_by_group_then_score, top_n_per_row, unique_sorted


@given(arrays(np.int64, st.integers(0, 300), elements=st.integers(-(2**40), 2**40)))
def test_unique_sorted_is_np_unique(values: np.ndarray) -> None:
    out = unique_sorted(values)
    assert out.dtype == values.dtype
    np.testing.assert_array_equal(out, np.unique(values))


def test_unique_sorted_leaves_its_input_alone() -> None:
    values = np.array([3, 1, 3, 2], dtype=np.int64)
    assert unique_sorted(values).tolist() == [1, 2, 3]
    assert values.tolist() == [3, 1, 3, 2]


def _lexsort_top_n(rows, cols, vals, n):
    order = np.lexsort((cols, -vals, rows))
    r, c, v = rows[order], cols[order], vals[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r) + 1
    keep = rank <= n
    return r[keep], c[keep], v[keep], rank[keep]


@st.composite
def _entries(draw):
    """CSR-ordered entries (rows ascending, distinct columns per row) with tied and signed float32 values."""
    n_cols = draw(st.sampled_from([1, 2, 7, 1000, 2**20, 2**31]))
    cells = draw(
        st.lists(st.tuples(st.integers(0, 40), st.integers(0, min(n_cols, 50) - 1)), max_size=200, unique=True)
    )
    cells.sort()
    values = st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.0, 3.4e38, 1e-45, -1e-45])
    vals = np.array(draw(st.lists(values, min_size=len(cells), max_size=len(cells))), dtype=np.float32)
    rows = np.array([r for r, _ in cells], dtype=np.int64)
    cols = np.array([c for _, c in cells], dtype=np.int64) * max(1, (n_cols - 1) // 49)
    return rows, cols, vals, n_cols


@given(_entries(), st.integers(1, 12), st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_top_n_per_row_is_the_lexsort_cut(entries, n: int, shuffle: int | None) -> None:
    rows, cols, vals, n_cols = entries
    if shuffle is not None:  # columns in any order within a row (a scipy product's are not sorted)
        order = np.lexsort((np.random.default_rng(shuffle).random(len(rows)), rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
    got = top_n_per_row(rows, cols, vals, n_cols, n)
    want = _lexsort_top_n(rows, cols, vals, n)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[3].dtype == np.int32 and got[2].dtype == np.float32


def test_top_n_per_row_refuses_columns_it_cannot_pack() -> None:
    with pytest.raises(ValueError, match="too many columns"):
        top_n_per_row(np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.float32), 2**33, 3)


@given(
    arrays(np.int64, st.integers(0, 300), elements=st.integers(0, 20)),
    st.data(),
)
def test_order_by_group_then_score_is_the_lexsort(groups: np.ndarray, data) -> None:
    scores = data.draw(arrays(np.float64, len(groups), elements=st.sampled_from([-1.5, 0.0, 0.25, 2.0, 1e300])))
    want = np.lexsort((np.arange(len(groups)), -scores, groups))
    np.testing.assert_array_equal(order_by_group_then_score(groups, scores), want)


def test_order_by_group_then_score_keeps_wide_groups() -> None:
    groups = np.array([2**40, 3, 2**40, 3], dtype=np.int64)
    scores = np.array([1.0, 1.0, 2.0, 1.0])
    assert order_by_group_then_score(groups, scores).tolist() == [1, 3, 2, 0]


@given(
    arrays(np.int64, st.integers(0, 300), elements=st.integers(-3, 3) | st.integers(-(2**40), 2**40)).flatmap(
        lambda keys: st.tuples(
            st.just(keys), arrays(np.float64, len(keys), elements=st.floats(-1e6, 1e6, allow_nan=False))
        )
    )
)
def test_key_groups_are_a_groupby_on_the_key(data) -> None:
    keys, values = data
    groups = KeyGroups(keys)
    by_key = pd.Series(values).groupby(keys, sort=True)
    np.testing.assert_array_equal(groups.keys, by_key.size().index.to_numpy().astype(np.int64))
    np.testing.assert_array_equal(groups.size(), by_key.size().to_numpy())
    np.testing.assert_array_equal(groups.min(values), by_key.min().to_numpy())
    np.testing.assert_array_equal(groups.max(values), by_key.max().to_numpy())
    counts = (values > 0).astype(np.int64)  # whole numbers: any summation order gives the same sums
    np.testing.assert_array_equal(groups.sum(counts), pd.Series(counts).groupby(keys, sort=True).sum().to_numpy())
    assert len(groups) == len(by_key.size())
