from __future__ import annotations

import pandas as pd

from training.evaluation.split import time_holdout


def test_last_fifth_per_user_held_out() -> None:
    rows = [("a", f"i{k}", "view", pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=k)) for k in range(10)]
    rows += [
        ("b", "x", "view", pd.Timestamp("2024-01-05", tz="UTC")),
        ("c", "y", "view", pd.Timestamp("2024-01-01", tz="UTC")),
        ("c", "z", "view", pd.Timestamp("2024-01-02", tz="UTC")),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    train, test = time_holdout(events, 0.2)
    assert sorted(test[test.user_id == "a"].item_id) == ["i8", "i9"]
    assert "b" not in set(test.user_id)  # a single event stays in training
    assert list(test[test.user_id == "c"].item_id) == ["z"]  # at least one held out
    assert len(train) + len(test) == len(events)
    last_train = train.groupby("user_id").timestamp.max()
    first_test = test.groupby("user_id").timestamp.min()
    assert (last_train[first_test.index] <= first_test).all()
