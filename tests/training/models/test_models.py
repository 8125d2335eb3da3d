"""One contract test for every model, on a checkerboard where the right answer is obvious."""

from __future__ import annotations

import numpy as np
import pytest

from training.data.interactions import seen_matrix
from training.data.prepare import Prepared
from training.models.als import ALS
from training.models.base import Recommender, top_k
from training.models.content import ContentTFIDF
from training.models.ease import EASE
from training.models.hybrid import Hybrid, blend, standardize_rows
from training.models.itemknn import ItemKNN
from training.models.popularity import Popularity, trending_scores

MODELS = {
    "als": lambda: ALS(factors=8, regularization=0.01, iterations=20, random_state=1),
    "itemknn": lambda: ItemKNN(neighbours=10),
    "ease": lambda: EASE(l2=1.0),
    "content": lambda: ContentTFIDF(),
    "hybrid": lambda: Hybrid(
        {"ease": EASE(l2=1.0), "content": ContentTFIDF(), "popularity": Popularity()},
        {"ease": 1.0, "content": 0.3, "popularity": 0.1},
    ),
}


def _purchased(p: Prepared):
    return p.data.interactions.copy().astype(bool).astype(np.float32).tocsr()


@pytest.mark.parametrize("name", list(MODELS))
def test_recommends_the_missing_item_of_the_users_taste(checkerboard: Prepared, name: str) -> None:
    p = checkerboard
    model: Recommender = MODELS[name]().fit(p.data)
    users = p.users.to_index(["a0", "b0"])
    idx, scores = model.recommend(users, 3, exclude=_purchased(p))
    top = p.items.to_ids(idx[:, 0])
    if name == "content":
        # Content cannot tell r4 from the new red item, but both are red.
        assert set(p.items.to_ids(idx[0, :2])) == {"r4", "n0"} and set(p.items.to_ids(idx[1, :1])) == {"b4"}
    else:
        assert list(top) == ["r4", "b4"]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    seen = set(p.items.to_ids(_purchased(p)[users[0]].indices))
    assert not seen & set(p.items.to_ids(idx[0]))


@pytest.mark.parametrize("name", list(MODELS))
def test_similar_items_stay_in_the_same_group_and_never_return_the_item(checkerboard: Prepared, name: str) -> None:
    p = checkerboard
    model = MODELS[name]().fit(p.data)
    idx, _ = model.similar_items(p.items.to_index(["r1", "b1"]), 3)
    red, blue = p.items.to_ids(idx[0]), p.items.to_ids(idx[1])
    assert "r1" not in red and "b1" not in blue
    assert all(i.startswith(("r", "n")) for i in red) and all(i.startswith("b") for i in blue)


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_equals_single_and_is_deterministic(checkerboard: Prepared, name: str) -> None:
    p = checkerboard
    a = MODELS[name]().fit(p.data)
    b = MODELS[name]().fit(p.data)
    users = np.arange(p.data.n_users)
    batch = a.score(users)
    single = np.vstack([a.score(np.array([u])) for u in users])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch, b.score(users), rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(batch))


def test_content_finds_new_items_for_similar_taste(checkerboard: Prepared) -> None:
    p = checkerboard
    model = ContentTFIDF().fit(p.data)
    idx, _ = model.similar_items(p.items.to_index(["n0"]), 5)
    assert set(p.items.to_ids(idx[0])) <= {"r0", "r1", "r2", "r3", "r4"}


def test_hybrid_similar_items_of_a_new_item_use_content(checkerboard: Prepared) -> None:
    p = checkerboard
    h = MODELS["hybrid"]().fit(p.data)
    idx, _ = h.similar_items(p.items.to_index(["n0"]), 3)
    assert all(i.startswith("r") for i in p.items.to_ids(idx[0]))


def test_popularity_and_trending() -> None:
    import pandas as pd

    from training.data.prepare import prepare

    t = pd.Timestamp("2024-03-01", tz="UTC")
    rows = [
        ("u1", "old", "purchase", t - pd.Timedelta(days=20)),
        ("u2", "old", "purchase", t - pd.Timedelta(days=20)),
        ("u3", "old", "view", t - pd.Timedelta(days=19)),
        ("u1", "new", "view", t - pd.Timedelta(days=1)),
        ("u2", "new", "view", t),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": ["old", "new"],
            "title": ["a", "b"],
            "category": ["c", "c"],
            "brand": "",
            "tags": "",
            "description": "",
        }
    )
    p = prepare(events, items)
    pop = Popularity().fit(p.data)
    assert list(p.items.to_ids(top_k(pop.score(np.array([0])), 2)[0][0])) == ["old", "new"]
    np.testing.assert_allclose(pop.item_scores[p.items.to_index(["old", "new"])], [1.0, 2 / 11], rtol=1e-6)
    trend = trending_scores(p.data)
    assert trend[p.items.to_index(["new"])[0]] > trend[p.items.to_index(["old"])[0]] == 0


def test_blend_leans_on_popularity_for_short_histories() -> None:
    cf = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    pop = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = blend({"als": cf, "popularity": pop}, {"als": 1.0, "popularity": 0.5}, history=np.array([0, 50]), shrink=5)
    assert out[0].argmax() == 0  # no history: popularity decides
    assert out[1].argmax() == 1  # long history: CF decides
    assert np.allclose(standardize_rows(np.ones((1, 3))), 0)


def test_top_k_pads_when_everything_is_excluded() -> None:
    import scipy.sparse as sp

    idx, val = top_k(np.array([[0.1, 0.2]]), 3, sp.csr_matrix(np.array([[1.0, 0.0]])))
    assert list(idx[0]) == [1, -1, -1] and np.isnan(val[0, 1:]).all()


def test_nan_factors_fail_loudly(checkerboard: Prepared) -> None:
    from training.failures import ModelFitError

    data = checkerboard.data
    data.interactions.data[:] = np.nan
    with pytest.raises(ModelFitError):
        EASE(l2=1.0).fit(data)


def test_seen_matrix_by_type(checkerboard: Prepared) -> None:
    import pandas as pd

    ev = pd.DataFrame({"user_id": ["a0", "a0"], "item_id": ["r0", "r1"], "event": ["view", "purchase"]})
    m = seen_matrix(ev, checkerboard.users, checkerboard.items, {"purchase"})
    assert m.nnz == 1 and m[checkerboard.users.to_index(["a0"])[0], checkerboard.items.to_index(["r1"])[0]] == 1
