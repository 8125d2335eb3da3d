"""Implicit-feedback matrix factorisation (ALS, Hu, Koren & Volinsky 2008) through `implicit`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from training.models.base import Recommender, TrainingData, check_finite, cosine_rows
from training.threads import cpus


@dataclass(frozen=True)
class FittedFactors:
    """Factors an ALS fitted elsewhere (the ranking stage's serving source), with what they were fitted on:
    the ids of their rows, the summed event weights whose log-scaled confidences they learned from, and the
    hyper-parameters. A model with the same hyper-parameters on the same matrix adopts them instead of
    fitting them again (the hybrid's final fit: 33 s of a 12.6M-event run)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: sp.csr_matrix
    user_factors: np.ndarray
    item_factors: np.ndarray
    params: dict


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
            # the same factors at any thread count (training/threads.py)
            model = AlternatingLeastSquares(**self.params(), num_threads=cpus())
            model.fit(confidence, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        check_finite(self.name, self.user_factors)
        check_finite(self.name, self.item_factors)
        self._item_unit = cosine_rows(self.item_factors)
        return self

    def params(self) -> dict:
        """What decides the factors besides the data (the thread count does not: training/threads.py)."""
        keys = ("factors", "regularization", "alpha", "iterations", "random_state")
        return {k: getattr(self, k) for k in keys}

    def adopt(
        self, found: FittedFactors, interactions: sp.csr_matrix, user_ids: np.ndarray, item_ids: np.ndarray
    ) -> bool:
        """Take `found`'s factors as this model's fit on `interactions` (rows `user_ids`, columns `item_ids`)
        when they were fitted with the same hyper-parameters on the same matrix up to the order of its rows
        and columns (compared entry by entry); False, and nothing changed, otherwise. The order changes
        the random start, not what the model is: the factors are as good as a fit of this order's."""
        if found.params != self.params() or found.weights.shape != interactions.shape:
            return False
        rows = pd.Index(found.user_ids).get_indexer(pd.Index(user_ids))
        cols = pd.Index(found.item_ids).get_indexer(pd.Index(item_ids))
        if (rows < 0).any() or (cols < 0).any() or found.weights.nnz != interactions.nnz:
            return False
        position = np.empty(len(cols), dtype=np.int64)
        position[cols] = np.arange(len(cols))
        mine = found.weights[rows]  # in this model's row order; the columns renumbered below
        mine.indices = position[mine.indices].astype(mine.indices.dtype)
        mine.has_sorted_indices = False
        mine.sort_indices()
        theirs = interactions.tocsr()
        if not theirs.has_sorted_indices:
            theirs = theirs.sorted_indices()
        same = (
            np.array_equal(mine.indptr, theirs.indptr)
            and np.array_equal(mine.indices, theirs.indices)
            and np.array_equal(mine.data, theirs.data.astype(mine.data.dtype, copy=False))
        )
        if not same:
            return False
        self.user_factors = np.ascontiguousarray(found.user_factors[rows], dtype=np.float32)
        self.item_factors = np.ascontiguousarray(found.item_factors[cols], dtype=np.float32)
        self._item_unit = cosine_rows(self.item_factors)
        return True

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self._item_unit[items] @ self._item_unit.T
