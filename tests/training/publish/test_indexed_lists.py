"""Lists as catalog positions: from training's internal indexes and from ids, the same bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract import codecs
from training.publish.indexed_lists import CatalogPositions


def test_internal_indexes_and_ids_give_the_same_lists() -> None:
    item_ids = np.array(["a", "b", "ghost", "c", "d"], dtype=object)  # "ghost": seen in events only
    catalog = pd.DataFrame({"item_id": item_ids, "in_catalog": [True, True, False, True, True]})
    internal = np.array([[4, 0, 3], [1, 3, -1], [0, 1, 4]])  # -1: a short row's padding
    items = np.where(internal >= 0, item_ids[np.clip(internal, 0, None)], "").astype(object)
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.2, 0.0], [0.7, 0.6, 0.5]], dtype=np.float32)
    bought = [["ghost", "a"], [], ["d"]]
    positions = CatalogPositions(catalog, item_ids)
    fast = positions.lists(items, scores, bought, internal)
    assert fast == positions.lists(items, scores, bought) == CatalogPositions(catalog).lists(items, scores, bought)
    published = ["a", "b", "c", "d"]  # the catalog as published: its showable items in order
    assert [codecs.decode_indexed(b, published)[0] for b in fast] == [["d", "a", "c"], ["b", "c"], ["a", "b", "d"]]
    assert [codecs.decode_bought(b, published) for b in fast] == [["a"], [], ["d"]]  # the ghost is never shown
    only = positions.bought_only(["ghost", "c"])
    assert codecs.decode_indexed(only, published) is None and codecs.decode_bought(only, published) == ["c"]


def test_a_catalog_in_another_order_falls_back_to_ids() -> None:
    item_ids = np.array(["a", "b", "c"], dtype=object)
    catalog = pd.DataFrame({"item_id": ["c", "b", "a"], "in_catalog": [True, True, True]})
    internal = np.array([[0, 1]])
    items = item_ids[internal]
    got = CatalogPositions(catalog, item_ids).lists(items, np.ones((1, 2), dtype=np.float32), None, internal)
    assert codecs.decode_indexed(got[0], ["c", "b", "a"])[0] == ["a", "b"]
