"""Popularity: recency-weighted event counts, the same list for every user; also trending items."""

from __future__ import annotations

import numpy as np

from training.models.base import Recommender, TrainingData


class Popularity(Recommender):
    """Score items by summed event weight, decayed with a half-life in days (None: all time)."""

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days
        self.item_scores: np.ndarray | None = None

    def fit(self, data: TrainingData) -> Popularity:
        w = data.event_weights.astype(np.float64)
        if self.half_life_days:
            w = w * np.power(0.5, np.clip(data.event_age_days, 0, None) / self.half_life_days)
        scores = np.bincount(data.event_items, weights=w, minlength=data.n_items)
        top = scores.max() if len(scores) and scores.max() > 0 else 1.0
        self.item_scores = (scores / top).astype(np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(users), len(self.item_scores))).copy()

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        # Popularity knows nothing about item relations: every item is "similar" by its popularity.
        return self.score(items)


def trending_scores(data: TrainingData, window_days: float = 7.0, baseline_days: float = 28.0) -> np.ndarray:
    """Lift of the last `window_days` over the daily rate of the preceding `baseline_days`.

    Items need recent activity to trend; the +1 smoothing keeps rare items from topping the list
    with one event.
    """
    age = data.event_age_days
    recent = age <= window_days
    base = (age > window_days) & (age <= window_days + baseline_days)
    w = data.event_weights.astype(np.float64)
    recent_rate = np.bincount(data.event_items[recent], weights=w[recent], minlength=data.n_items) / window_days
    base_rate = np.bincount(data.event_items[base], weights=w[base], minlength=data.n_items) / baseline_days
    lift = (recent_rate + 1.0 / window_days) / (base_rate + 1.0 / window_days)
    # Rank by lift weighted by volume so that one extra view of a dead item does not trend.
    return np.where(recent_rate > 0, np.log1p(recent_rate * window_days) * lift, 0.0).astype(np.float32)
