from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baskets.association import Associations
from training.baskets.baskets import baskets
from training.baskets.evaluation import basket_metrics, held_out_queries
from training.baskets.model import BasketSettings, fit, ranked_lists

T = pd.Timestamp("2024-01-01", tz="UTC")


def events(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "order_id"])
    frame["event"] = "purchase"
    frame["timestamp"] = [T + pd.Timedelta(minutes=m) for m in frame["timestamp"]]
    return frame


def test_baskets_by_order_id_else_by_session() -> None:
    b = baskets(
        events(
            [
                ("u1", "a", 0, "o1"),
                ("u1", "b", 1, "o1"),
                ("u2", "a", 2, "o2"),  # two orders
                ("u3", "a", 0, None),
                ("u3", "c", 10, None),  # one session (10 minutes apart)
                ("u3", "d", 100, None),  # a new session after the 30-minute gap
            ]
        )
    )
    assert (b.n_baskets, b.by_order_id, b.by_session) == (4, 2, 2)
    groups = pd.Series(b.item).groupby(b.basket).apply(lambda s: tuple(sorted(s))).tolist()
    assert sorted(groups) == [("a",), ("a", "b"), ("a", "c"), ("d",)]


def test_measures_and_thresholds_on_a_known_example() -> None:
    # 10 baskets: {a, b} x4, {a, c} x1, {c} x5 -> n_ab = 4, n_a = 5, n_b = 4, n_c = 6
    rows = []
    for k in range(4):
        rows += [("u", "a", 60 * k, f"ab{k}"), ("u", "b", 60 * k, f"ab{k}")]
    rows += [("u", "a", 900, "ac"), ("u", "c", 900, "ac")]
    rows += [("u", "c", 1000 + 60 * k, f"c{k}") for k in range(5)]
    assoc = Associations.count(baskets(events(rows)))
    ranked = assoc.rank(10, beta=0.0, min_support=2, min_lift=1.0)
    a = list(assoc.item_ids).index("a")
    assert [assoc.item_ids[i] for i in ranked.items[a]] == ["b"]  # a-c: 1 basket, below min support
    assert ranked.baskets[a][0] == 4
    assert ranked.confidence[a][0] == pytest.approx(4 / 5)
    assert ranked.lift[a][0] == pytest.approx(4 * 10 / (5 * 4))
    loose = assoc.rank(10, beta=0.0, min_support=1, min_lift=0.0)
    assert [assoc.item_ids[i] for i in loose.items[a]] == ["b", "c"]


def test_ranking_some_items_gives_their_lists_of_ranking_all() -> None:
    rng = np.random.default_rng(1)
    rows = [("u", f"i{rng.integers(0, 12)}", k // 4, f"o{k // 4}") for k in range(400)]
    assoc = Associations.count(baskets(events(rows)), half_life_days=1.0)
    every = ranked_lists(assoc, assoc.rank(5, beta=0.25, min_support=1, min_lift=0.0))
    rows_asked = np.array([7, 0, 3])
    some = assoc.rank(5, beta=0.25, min_support=1, min_lift=0.0, rows=rows_asked)
    assert len(some.items) == 3
    assert ranked_lists(assoc, some, rows_asked) == {
        str(assoc.item_ids[a]): every[str(assoc.item_ids[a])] for a in rows_asked
    }
    assert all(len(every[str(assoc.item_ids[a])]) for a in rows_asked)


def test_the_bundle_is_found_and_beats_chance(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(300):
        pair = [("x1", "x2"), ("y1", "y2"), ("z1", "z2")][k % 3]
        noise = f"n{rng.integers(0, 30)}"
        rows += [("u", pair[0], k, f"o{k}"), ("u", pair[1], k, f"o{k}"), ("u", noise, k, f"o{k}")]
    model = fit(events(rows), settings=BasketSettings(n=5))
    lists = model.lists()
    assert lists["x1"][0][0] == "x2" and lists["y2"][0][0] == "y1"
    assert model.report["baskets"]["by_order_id"] == 300
    queries = held_out_queries(baskets(events(rows[-60:])), lambda i: i in lists)
    assert basket_metrics(lambda q: lists.get(q, ([],))[0], queries)["hit_rate@10"] > 0.9


def test_only_showable_items_are_complements() -> None:
    rows = []
    for k in range(60):
        pair = [("x1", "x2"), ("y1", "y2"), ("x1", "y1")][k % 3]
        rows += [("u", pair[0], k, f"o{k}"), ("u", pair[1], k, f"o{k}")]
    every = fit(events(rows), settings=BasketSettings(n=5, min_support=1, min_lift=0.0)).lists()
    shown = fit(events(rows), {"x1", "x2", "y2"}, BasketSettings(n=5, min_support=1, min_lift=0.0)).lists()
    # a hidden item is never a complement (y2's only one was y1); its own list stays
    assert set(every) == {"x1", "x2", "y1", "y2"} and set(shown) == {"x1", "x2", "y1"}
    assert all("y1" not in complements for complements, *_ in shown.values())
    assert shown["x1"][0] == [c for c in every["x1"][0] if c != "y1"]
