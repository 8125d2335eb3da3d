"""Time-based holdout: per user, the last fraction of their events (by timestamp) is held out.

This is the protocol of the quality benchmark: every user with at least two events keeps the first
(1 - fraction) of their events for training and has the rest, at least one event, held out. Users
with a single event stay wholly in training. Ties in time keep file order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.data import columns as C


def time_holdout(events: pd.DataFrame, fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split events into (train, test) per user by time."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    ordered = events.sort_values([C.USER_ID, C.TIMESTAMP], kind="stable")
    codes = pd.factorize(ordered[C.USER_ID])[0]
    position = ordered.groupby(codes, sort=False).cumcount().to_numpy()
    counts = np.bincount(codes)[codes]
    n_test = np.where(counts >= 2, np.maximum(1, np.floor(counts * fraction)), 0)
    is_test = position >= counts - n_test
    train = ordered.loc[~is_test].sort_values(C.TIMESTAMP, kind="stable")
    test = ordered.loc[is_test].sort_values(C.TIMESTAMP, kind="stable")
    return train, test
