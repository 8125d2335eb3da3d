"""Implicit-feedback matrix factorisation (ALS, Hu, Koren & Volinsky 2008) through `implicit`."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from training.models.base import Recommender, TrainingData, check_finite, cosine_rows
from training.threads import cpus


class ALS(Recommender):
    """implicit's AlternatingLeastSquares on log-scaled confidences."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        random_state: int = 42,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def fit(self, data: TrainingData) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        confidence = data.interactions.copy()
        confidence.data = np.log1p(confidence.data).astype(np.float32)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=cpus(),  # the same factors at any thread count (training/threads.py)
            )
            model.fit(confidence, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        check_finite(self.name, self.user_factors)
        check_finite(self.name, self.item_factors)
        self._item_unit = cosine_rows(self.item_factors)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self._item_unit[items] @ self._item_unit.T
