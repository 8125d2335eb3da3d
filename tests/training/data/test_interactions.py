"""Event weights by type and the position decay: per distinct value, the same as per row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from training.data import columns as C
from training.data.interactions import event_weights, position_decay


@given(st.lists(st.sampled_from(["view", "cart", "purchase", "click", "impression", "wishlist"]), max_size=50))
def test_event_weights_are_the_types_weights(types: list[str]) -> None:
    weights = {"view": 1.0, "cart": 3.0, "purchase": 5.0, "click": 0.5}
    for column in (pd.Series(types, dtype="str"), pd.Series(types, dtype="category"), pd.Series(types, dtype=object)):
        got = event_weights(pd.DataFrame({C.EVENT: column}), weights)
        assert got.dtype == np.float32
        assert got.tolist() == [weights.get(t, 0.0) for t in types]


def test_position_decay_with_integer_users_is_the_same() -> None:
    rng = np.random.default_rng(3)
    users = rng.integers(0, 40, 500)
    events = pd.DataFrame(
        {
            C.USER_ID: pd.Series([f"u{k}" for k in users], dtype="str"),
            C.TIMESTAMP: pd.to_datetime(rng.integers(0, 10**6, 500), unit="s", utc=True),
        }
    )
    by_ids = position_decay(events, 10.0)
    np.testing.assert_array_equal(position_decay(events, 10.0, users=users), by_ids)
    np.testing.assert_array_equal(position_decay(events, 10.0, users=users * 7 + 1), by_ids)
