from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.data.loading import load_events, load_items, load_users
from training.datasets import movielens
from training.datasets.synthetic import generate


def test_movielens_converter_on_a_tiny_copy(tmp_path: Path) -> None:
    src = tmp_path / "ml"
    src.mkdir()
    (src / "u.data").write_text("1\t10\t5\t881250949\n1\t11\t2\t881250950\n2\t10\t4\t881250951\n")
    (src / "u.genre").write_text("unknown|0\nAction|1\nComedy|2\n\n")
    flags_a = "|".join(["0", "1", "1"] + ["0"] * 16)
    flags_b = "|".join(["0", "0", "1"] + ["0"] * 16)
    (src / "u.item").write_bytes(
        f"10|Heat (1995)|01-Jan-1995||http://x|{flags_a}\n11|Caf\xe9 (1996)|01-Jan-1996||http://y|{flags_b}\n".encode(
            "latin-1"
        )
    )
    (src / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    counts = movielens.convert(src, tmp_path / "out")
    assert counts == {"events": 3, "items": 2, "users": 2}
    events, _ = load_events(tmp_path / "out" / "events.csv")
    assert list(events.event) == ["purchase", "view", "purchase"]
    items, _ = load_items(tmp_path / "out" / "items.csv")
    heat = items.set_index("item_id").loc["10"]
    assert heat.category == "Action" and heat.tags == "Action|Comedy"
    assert items.set_index("item_id").loc["11"].title == "Café (1996)"
    users, _ = load_users(tmp_path / "out" / "users.csv")
    assert set(users.columns) >= {"user_id", "age", "occupation"}


def test_synthetic_is_seeded_and_realistic() -> None:
    a, b = generate(200, 80, seed=3), generate(200, 80, seed=3)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.events.equals(generate(200, 80, seed=4).events)
    ev = a.events
    counts = ev.event.value_counts()
    assert counts["view"] > counts["cart"] > counts["purchase"] > 0  # a funnel
    per_user = ev.groupby("user_id", observed=True).size()
    assert per_user.max() > 5 * per_user.median()  # very different activity levels
    repeats = ev[ev.event == "purchase"].groupby(["user_id", "item_id"], observed=True).size()
    assert (repeats > 1).any()  # repeat purchases of consumables
    assert len(set(a.items.item_id) - set(ev.item_id.astype(str))) >= 4  # new items with no history
    assert ev.price[ev.event == "purchase"].gt(0).all()


def test_streaming_writer_writes_the_same_shop_in_chunks(tmp_path) -> None:
    """Chunk by chunk (bounded memory for 2M-user shops), the same users and events as one chunk would give
    for the same seed when the shop fits one chunk, and every chunk's users are new."""
    import pyarrow.parquet as pq

    from training.datasets.synthetic import write_streaming

    counts = write_streaming(tmp_path / "a", 300, 50, seed=5, chunk_users=100)
    events = pq.read_table(tmp_path / "a" / "events.parquet").to_pandas()
    users = pq.read_table(tmp_path / "a" / "users.parquet").to_pandas()
    assert counts["users"] == len(users) == users["user_id"].nunique() == 300
    assert counts["events"] == len(events) and set(events["user_id"]) <= set(users["user_id"])
    shop = generate(300, 50, seed=5)
    one = write_streaming(tmp_path / "b", 300, 50, seed=5)
    assert one["events"] == len(shop.events)
    again = pq.read_table(tmp_path / "b" / "events.parquet").to_pandas()
    assert again["user_id"].tolist() == shop.events["user_id"].tolist()
