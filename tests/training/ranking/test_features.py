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


def test_a_reused_block_gives_the_frame_a_fresh_one_gives() -> None:
    import pandas as pd

    from training.candidates.base import build_context
    from training.candidates.union import make_sources, source_names, union
    from training.data import columns as C
    from training.datasets.synthetic import generate
    from training.ranking.features import FeatureBuilder

    shop = generate(300, 400, seed=4)
    ctx = build_context(shop.events, shop.items, shop.events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1))
    names = source_names(ctx)
    sources = make_sources(names, 42)
    for s in sources:
        s.fit(ctx)
    builder = FeatureBuilder(ctx)
    big, small = (union(sources, np.arange(a, b), ctx.n_items) for a, b in ((0, 200), (200, 260)))
    for table in (big, small, big):  # smaller than the kept block, then as large as it again
        fresh = builder.build(table, names)
        reused = builder.build(table, names, reuse=True)
        pd.testing.assert_frame_equal(reused, fresh)
    assert np.shares_memory(builder.build(small, names, reuse=True).to_numpy(), reused.to_numpy())
