"""A context of some customers plus the item state of all of them scores those customers as the context of
all customers does: the hook the Spark engine's user partitions rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.candidates.base import build_context
from training.candidates.item_state import fitted_sources, item_state_of, models_of
from training.candidates.union import QUOTAS, fit_sources, make_sources, source_names, union
from training.data import columns as C
from training.data.idmap import IdMap
from training.datasets.synthetic import generate
from training.ranking.features import FeatureBuilder
from training.ranking.stage import drop_never_rebought


@pytest.fixture(scope="module")
def shop():
    return generate(400, 150, seed=5)


def test_partitions_reproduce_the_full_context(shop) -> None:
    events, items = shop.events, shop.items
    as_of = events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1)
    full = build_context(events, items, as_of)
    names = source_names(full)
    assert {"ease", "copurchase", "coview", "als"} <= set(names)
    sources = make_sources(names, 42)
    fit_sources(sources, full)
    users = np.arange(full.n_users)
    want = drop_never_rebought(union(sources, users, full.n_items, QUOTAS), full, 10)
    want_feats = FeatureBuilder(full).build(want, names)
    state, models = item_state_of(full), models_of(sources)

    got_tables, got_feats = [], []
    for part in np.array_split(np.arange(full.n_users), 3):
        ids = full.users.ids[part]
        ev = events[events[C.USER_ID].isin(set(ids))]
        ctx = build_context(ev, items, as_of, users=IdMap(ids), item_map=full.items, item_state=state)
        uf = models.extra["als_users"][part]
        part_sources = fitted_sources(names, models, uf, 42)
        fit_sources(part_sources, ctx)
        table = drop_never_rebought(union(part_sources, np.arange(len(ids)), ctx.n_items, QUOTAS), ctx, 10)
        got_feats.append(FeatureBuilder(ctx).build(table, names))
        table["u"] = part[table["u"].to_numpy()]
        got_tables.append(table)
    got = pd.concat(got_tables, ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-4, atol=1e-6)  # BLAS batch order
    pd.testing.assert_frame_equal(pd.concat(got_feats, ignore_index=True), want_feats, rtol=1e-4, atol=1e-6)
