"""The hybrid's ALS adopts the ranking stage's factors only when it would learn the same matrix with the same
settings: the same entries in another order of rows and columns, compared entry by entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.candidates.base import build_context
from training.candidates.cf import ALSSource
from training.data import columns as C
from training.data.prepare import prepare
from training.datasets.synthetic import generate
from training.evaluation.protocol import adopted_models
from training.evaluation.tuning import default_tuning
from training.models.als import ALS


@pytest.fixture(scope="module")
def shop():
    return generate(400, 300, seed=5)


@pytest.fixture(scope="module")
def found(shop):
    end = shop.events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1)
    source = ALSSource(seed=7).fit(build_context(shop.events, shop.items, end))
    return source.fitted_factors()


def test_adopts_the_same_matrix_in_its_own_order(shop, found) -> None:
    full = prepare(shop.events, shop.items)
    users, items = full.users.ids, full.items.ids
    assert not np.array_equal(users, found.user_ids)  # the two maps order the customers differently
    model = ALS(random_state=7)
    assert model.adopt(found, full.data.interactions, users, items)
    rows = pd.Index(found.user_ids).get_indexer(users)
    cols = pd.Index(found.item_ids).get_indexer(items)
    np.testing.assert_array_equal(model.user_factors, found.user_factors[rows])
    np.testing.assert_array_equal(model.item_factors, found.item_factors[cols])
    # scores and similar items work as after a fit; the scores are the stage's own for the same pairs
    np.testing.assert_array_equal(
        model.score(np.array([0]))[0], found.user_factors[rows[0]] @ found.item_factors[cols].T
    )
    idx, _ = model.similar_items(np.arange(5), 3)
    assert idx.shape == (5, 3)


def test_refuses_other_settings_or_other_data(shop, found) -> None:
    full = prepare(shop.events, shop.items)
    x, users, items = full.data.interactions, full.users.ids, full.items.ids
    assert not ALS(iterations=5, random_state=7).adopt(found, x, users, items)
    assert not ALS(factors=32, random_state=7).adopt(found, x, users, items)
    decayed = prepare(shop.events, shop.items, half_life_days=30.0).data.interactions  # same entries, other values
    model = ALS(random_state=7)
    assert not model.adopt(found, decayed, users, items)
    assert not hasattr(model, "user_factors")  # nothing taken from a refused adoption
    fewer = prepare(shop.events.iloc[: len(shop.events) // 2], shop.items)
    assert not model.adopt(found, fewer.data.interactions, fewer.users.ids, fewer.items.ids)


def test_the_hybrid_adopts_it_with_the_same_seed(shop, found) -> None:
    full = prepare(shop.events, shop.items)
    assert list(adopted_models(default_tuning(len(full.items), seed=7), full, found)) == ["als"]
    assert adopted_models(default_tuning(len(full.items), seed=8), full, found) == {}  # another random start
    assert adopted_models(default_tuning(len(full.items), seed=7), full, None) == {}
