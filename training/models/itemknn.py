"""Item-item neighbours (BM25-weighted cosine) through implicit's nearest_neighbours."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from training.models.base import Recommender, TrainingData


class ItemKNN(Recommender):
    """A user's score for an item is the similarity-weighted sum over the items they interacted with."""

    name = "itemknn"

    def __init__(self, neighbours: int = 100, k1: float = 1.2, b: float = 0.75) -> None:
        self.neighbours = neighbours
        self.k1 = k1
        self.b = b

    def fit(self, data: TrainingData) -> ItemKNN:
        from implicit.nearest_neighbours import BM25Recommender

        model = BM25Recommender(K=self.neighbours, K1=self.k1, B=self.b, num_threads=1)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit converts its own BM25 weighting from COO internally and warns about it
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(data.interactions, show_progress=False)
        self.similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        self.similarity.setdiag(0)
        self.similarity.eliminate_zeros()
        self._user_items = data.history
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self._user_items[users] @ self.similarity).todense(), dtype=np.float32)

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[items].todense(), dtype=np.float32)
