"""The pair features' lookups (training/ranking/features.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.ranking.features import _Found


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(0, 60), st.floats(-5, 5, allow_nan=False), max_size=30),
    st.lists(st.integers(0, 60), max_size=40),
)
def test_one_search_gives_every_column_as_a_lookup_per_key(table: dict[int, float], query: list[int]) -> None:
    keys = np.array(sorted(table), dtype=np.int64)
    values = np.array([table[k] for k in keys], dtype=np.float64)
    found = _Found(keys, np.array(query, dtype=np.int64))
    for default in (0.0, np.nan):
        want = np.array([table.get(q, default) for q in query], dtype=np.float32)
        got = found.take(values, default)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            found.take(-values, default),
            np.array([-table[q] if q in table else default for q in query], dtype=np.float32),
        )
