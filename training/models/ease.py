"""EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

Needs an items x items dense inverse, so it is only fitted when the catalog is small enough.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from training.models.base import Recommender, TrainingData, check_finite, cosine_rows
from training.threads import cpus

# The closed form inverts an items x items matrix: O(n^3). At 10k items that is about a minute on two
# cores; at 20k it was over ten minutes per fit here, and tuning fits it several times.
MAX_ITEMS = 10_000


class EASE(Recommender):
    name = "ease"

    def __init__(self, l2: float = 300.0) -> None:
        self.l2 = l2

    def fit(self, data: TrainingData) -> EASE:
        if data.n_items > MAX_ITEMS:
            raise ValueError(f"EASE needs at most {MAX_ITEMS} items, got {data.n_items}")
        x = data.interactions.copy()
        x.data = np.log1p(x.data).astype(np.float32)
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        # implicit wants one BLAS thread, but nothing else runs during this inverse: use every core.
        with threadpool_limits(cpus(), "blas"):
            p = np.linalg.inv(gram)
        b = -p / np.diag(p)
        b[np.diag_indices_from(b)] = 0.0
        self.weights = b.astype(np.float32)
        check_finite(self.name, self.weights)
        self._x = data.history.copy()
        self._x.data = np.log1p(self._x.data).astype(np.float32)
        self._unit = cosine_rows(self.weights.T)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self._x[users] @ self.weights, dtype=np.float32)

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self._unit[items] @ self._unit.T
