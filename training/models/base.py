"""The shared model interface and the data every model is fitted on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from training.failures import ModelFitError


@dataclass
class TrainingData:
    """Everything a model may learn from, in internal indices.

    `interactions` is users x items of summed confidence weights (what models learn from);
    `history` is the same with each user's older events decayed by their position in the user's own
    timeline (what item-based models score from: recent interests predict the next ones best).
    The event arrays describe every kept event (for popularity over time); `item_text` and
    `item_categories` describe every item.
    """

    interactions: sp.csr_matrix
    history: sp.csr_matrix
    item_text: list[str]
    item_categories: np.ndarray
    event_items: np.ndarray
    event_weights: np.ndarray
    event_age_days: np.ndarray

    @property
    def n_users(self) -> int:
        return self.interactions.shape[0]

    @property
    def n_items(self) -> int:
        return self.interactions.shape[1]


def top_k(
    scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns per row, best first; -1 / NaN pad rows with fewer than k allowed items.

    `exclude` rows (same row order as `scores`) mark item columns that must not be returned; `allowed`
    marks the columns that may be returned at all.
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    if exclude is not None and exclude.nnz:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    k_eff = min(k, scores.shape[1])
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(part_scores, order, axis=1)
    idx = np.where(np.isfinite(val), idx, -1)
    val = np.where(np.isfinite(val), val, np.nan)
    if k_eff < k:
        pad = k - k_eff
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, pad)), constant_values=np.nan)
    return idx.astype(np.int64), val.astype(np.float32)


def check_finite(name: str, array: np.ndarray) -> None:
    """Fail loudly when a fitted model holds NaN or infinite values."""
    if not np.all(np.isfinite(array)):
        raise ModelFitError(f"{name}: fitted values contain NaN or infinity; check the input weights")


def cosine_rows(vectors: np.ndarray) -> np.ndarray:
    """Row-normalised copy of a dense matrix (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class Recommender(ABC):
    """A fitted model scores every item for a batch of users and finds similar items."""

    name: str = "model"

    @abstractmethod
    def fit(self, data: TrainingData) -> Recommender:
        """Learn from the training data; returns self."""

    @abstractmethod
    def score(self, users: np.ndarray) -> np.ndarray:
        """Dense (len(users), n_items) float32 scores; higher is better."""

    @abstractmethod
    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Dense (len(items), n_items) similarity of the given items to every item."""

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores per user; `exclude` is users x items (all users), `allowed` marks
        the items that may be returned at all."""
        users = np.asarray(users, dtype=np.int64)
        rows = exclude[users] if exclude is not None else None
        return top_k(self.score(users), n, rows, allowed)

    def similar_items(
        self, items: np.ndarray, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n most similar items per item, never the item itself."""
        items = np.asarray(items, dtype=np.int64)
        sims = self.item_similarity(items)
        itself = sp.csr_matrix(
            (np.ones(len(items), dtype=np.float32), (np.arange(len(items)), items)), shape=sims.shape
        )
        return top_k(sims, n, itself, allowed)
