from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.data import columns as C
from training.segments import clusters, lifecycle, rfm
from training.segments.profiles import build, profile_record, segment_popular_lists

T0 = pd.Timestamp("2024-03-31", tz="UTC")


def _days(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer": [r[0] for r in rows],
            "day": [T0 - pd.Timedelta(days=r[1]) for r in rows],
            "value": [r[2] for r in rows],
        }
    )


def test_rfm_by_hand() -> None:
    # five customers, distinct everything: scores are their quintiles
    rows = [
        ("a", 1, 100.0),
        ("a", 10, 100.0),
        ("a", 20, 100.0),
        ("a", 30, 100.0),
        ("b", 5, 50.0),
        ("b", 40, 50.0),
        ("b", 60, 50.0),
        ("c", 30, 30.0),
        ("c", 70, 30.0),
        ("d", 80, 20.0),
        ("e", 3, 5.0),
    ]
    t = rfm.rfm_table(_days(rows), T0)
    assert t.loc["a", "recency_days"] == 1 and t.loc["a", "frequency"] == 4 and t.loc["a", "monetary"] == 400
    assert t.loc["b", "average_spend"] == 50 and t.loc["d", "recency_days"] == 80
    assert list(t.r_score) == [5, 3, 2, 1, 4]  # a, b, c, d, e by recency 1, 5, 30, 80, 3
    assert list(t.f_score) == [5, 4, 3, 2, 2]  # d and e tie at one purchase day
    assert list(t.m_score) == [5, 4, 3, 2, 1]
    assert t.loc["a", "segment"] == "champions"
    assert t.loc["e", "segment"] == "new"  # one purchase day, recent
    assert t.loc["d", "segment"] == "lost"


@pytest.mark.parametrize(
    ("r", "f", "m", "days", "group"),
    [
        (5, 5, 5, 9, "champions"),
        (3, 4, 2, 6, "loyal"),
        (4, 2, 2, 2, "potential_loyalists"),
        (1, 5, 5, 9, "cant_lose"),
        (2, 3, 1, 3, "at_risk"),
        (2, 1, 1, 1, "hibernating"),
        (1, 1, 1, 1, "lost"),
        (3, 1, 1, 1, "needs_attention"),
        (5, 1, 1, 1, "new"),
    ],
)
def test_group_rules(r, f, m, days, group) -> None:
    t = pd.DataFrame({"r_score": [r], "f_score": [f], "m_score": [m], "frequency": [days]})
    assert rfm.assign_groups(t)[0] == group


def test_kmeans_finds_separated_groups_and_names_them() -> None:
    rng = np.random.default_rng(0)
    n = 60
    r = pd.DataFrame(
        {
            "recency_days": np.r_[rng.uniform(1, 5, n), rng.uniform(100, 120, n)],
            "frequency": np.r_[rng.integers(8, 12, n), rng.integers(1, 2, n)],
            "monetary": np.r_[rng.uniform(900, 1100, n), rng.uniform(10, 20, n)],
        },
        index=[f"u{i}" for i in range(2 * n)],
    )
    spend = pd.DataFrame(
        {"toys": np.r_[np.ones(n), np.zeros(n)], "books": np.r_[np.zeros(n), np.ones(n)]}, index=r.index
    )
    res = clusters.cluster(clusters.features(r, spend), 2, 5)
    assert res.k == 2 and res.silhouette[2] == max(res.silhouette.values())
    names = set(res.labels)
    assert names == {"recent frequent high-value toys", "lapsed occasional low-spend books"}
    assert res.labels.iloc[0] == "recent frequent high-value toys"


def test_lifecycle_rules() -> None:
    t = pd.DataFrame(
        {"recency_days": [2.0, 10.0, 50.0, 400.0], "frequency": [1, 5, 5, 5]}, index=["new", "active", "risky", "gone"]
    )
    first_age = pd.Series([5.0, 100.0, 130.0, 500.0], index=t.index)
    alive = pd.Series([1.0, 0.9, 0.8, 0.1], index=t.index)
    stages = lifecycle.stages(t, first_age, alive, pd.Index(["new", "active", "risky", "gone", "browser"]))
    assert stages.to_dict() == {
        "new": "new",
        "active": "active",
        "risky": "at_risk",
        "gone": "churned",
        "browser": "prospect",
    }


def _events(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp", "quantity", "price"])


ITEMS = pd.DataFrame({"item_id": ["i1", "i2"], "title": ["a", "b"], "category": ["x", "y"], "price": [10.0, np.nan]})


def test_no_purchases_everyone_is_a_prospect() -> None:
    ev = _events([("u1", "i1", "view", T0, 1.0, np.nan), ("u2", "i2", "cart", T0, 1.0, np.nan)])
    res = build(ev, ITEMS)
    assert set(res.profiles.lifecycle_stage) == {"prospect"}
    assert "no purchase events" in res.report["warnings"][0]
    assert profile_record("u1", res.profiles.loc["u1"]).rfm is None


def test_single_customer_and_zero_prices_are_reported_not_crashes() -> None:
    ev = _events(
        [("u1", "i2", "purchase", T0 - pd.Timedelta(days=3), 1.0, np.nan), ("u1", "i2", "purchase", T0, 1.0, np.nan)]
    )
    res = build(ev, ITEMS)
    warnings = res.report["warnings"]
    assert warnings[0] == "2 purchases have zero value (no price): they count for frequency only"
    assert warnings[1].startswith("CLV not fitted: too few customers (1 buyers, 1 repeat buyers")
    rec = profile_record("u1", res.profiles.loc["u1"])
    assert rec.rfm.frequency == 2 and rec.rfm.monetary == 0.0
    assert rec.clv.p_alive is None and rec.lifecycle_stage == "new"


def _popular_by_groupby(events: pd.DataFrame, members: dict[str, list[str]], n: int) -> dict:
    """The definition: weight sums per item over the members' events, largest first, ties by item id."""
    w = events[C.EVENT].map(C.DEFAULT_EVENT_WEIGHTS).fillna(0.0)
    scored = pd.DataFrame({"user": events[C.USER_ID], "item": events[C.ITEM_ID], "w": w})
    out = {}
    for sid, users in members.items():
        top = scored[scored["user"].isin(users)].groupby("item")["w"].sum()
        top = top.sort_values(ascending=False, kind="stable").head(n)
        peak = float(top.iloc[0]) if len(top) and top.iloc[0] > 0 else 1.0
        out[sid] = [(str(i), round(float(v) / peak, 4)) for i, v in top.items()]
    return out


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 12), st.sampled_from(["view", "cart", "purchase", "impression"])),
        min_size=1,
        max_size=60,
    ),
    segments=st.lists(st.sets(st.integers(0, 9), max_size=6), min_size=1, max_size=4),
    n=st.integers(1, 6),
)
def test_segment_popular_lists_match_the_groupby_definition(rows, segments, n) -> None:
    events = pd.DataFrame(
        {
            C.USER_ID: pd.array([f"u{u}" for u, _, _ in rows], dtype="str"),
            C.ITEM_ID: pd.array([f"i{i}" for _, i, _ in rows], dtype="str"),
            C.EVENT: pd.array([e for _, _, e in rows], dtype="str"),
        }
    )
    members = {f"s{k}": sorted(f"u{u}" for u in users) for k, users in enumerate(segments)}  # u8, u9: no events
    assert segment_popular_lists(events, members, n) == _popular_by_groupby(events, members, n)
