"""Hybrid: a per-user blend of standardised CF, content and popularity scores.

A user's CF weights shrink with a short history (h / (h + shrink), h = items in the history), so
users with little history lean on content and popularity, and users with none get popularity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from training.models.base import Recommender, TrainingData

POPULARITY = "popularity"
CONTENT = "content"


def standardize_rows(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores, so models on different scales can be added; constant rows become 0."""
    scores = np.asarray(scores, dtype=np.float32)
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 1e-12, std, 1.0)


def blend(
    scores: Mapping[str, np.ndarray], weights: Mapping[str, float], history: np.ndarray, shrink: float
) -> np.ndarray:
    """Weighted sum of standardised scores; every model but content and popularity is CF."""
    history = np.asarray(history, dtype=np.float32)[:, None]
    cf_scale = history / (history + shrink) if shrink > 0 else (history > 0).astype(np.float32)
    total = None
    for name, weight in weights.items():
        if weight == 0 or name not in scores:
            continue
        part = standardize_rows(scores[name]) * np.float32(weight)
        if name not in (POPULARITY, CONTENT):
            part = part * cf_scale
        elif name == CONTENT:
            part = part * (history > 0)
        total = part if total is None else total + part
    if total is None:
        raise ValueError("hybrid blend has no model with a non-zero weight")
    return total


class Hybrid(Recommender):
    """Blends fitted component models with fixed weights (tuned on validation by the pipeline)."""

    name = "hybrid"

    def __init__(
        self, components: Mapping[str, Recommender], weights: Mapping[str, float], history_shrink: float = 5.0
    ) -> None:
        self.components = dict(components)
        self.weights = {k: float(v) for k, v in weights.items() if k in self.components}
        self.history_shrink = history_shrink

    def fit(self, data: TrainingData) -> Hybrid:
        for model in self.components.values():
            model.fit(data)
        return self.attach(data)

    def attach(self, data: TrainingData) -> Hybrid:
        """Use components that are already fitted on `data`."""
        self.history = np.diff(data.interactions.indptr).astype(np.float32)
        self.item_history = np.bincount(data.interactions.indices, minlength=data.n_items)
        return self

    def component_scores(self, users: np.ndarray) -> dict[str, np.ndarray]:
        return {name: self.components[name].score(users) for name, w in self.weights.items() if w}

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return blend(self.component_scores(users), self.weights, self.history[users], self.history_shrink)

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        # Items without interactions have meaningless CF vectors: they are compared by content only.
        warm = (self.item_history[items] > 0).astype(np.float32)[:, None]
        total = np.zeros((len(items), len(self.item_history)), dtype=np.float32)
        for name, weight in self.weights.items():
            if weight == 0 or name == POPULARITY:
                continue
            part = standardize_rows(self.components[name].item_similarity(items)) * np.float32(weight)
            total += part if name == CONTENT else part * warm
        return total
