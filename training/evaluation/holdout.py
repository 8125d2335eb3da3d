"""Offline evaluation of fitted models on held-out events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.data import columns as C
from training.data.prepare import Prepared
from training.evaluation.ranking_metrics import catalog_coverage, ranking_metrics
from training.models.base import Recommender, top_k

K = 10


def relevant_sets(prepared: Prepared, test: pd.DataFrame, exclude: sp.csr_matrix) -> list[set[int]]:
    """Held-out items per training user, minus the items the exclusion policy would never show."""
    u = prepared.users.to_index(test[C.USER_ID], missing_ok=True)
    i = prepared.items.to_index(test[C.ITEM_ID], missing_ok=True)
    keep = (u >= 0) & (i >= 0)
    rel: list[set[int]] = [set() for _ in range(len(prepared.users))]
    for uu, ii in zip(u[keep], i[keep]):
        if not exclude[uu, ii]:
            rel[uu].add(int(ii))
    return rel


def eval_users(relevant: list[set[int]], max_users: int | None, seed: int) -> np.ndarray:
    """Users with something held out, a seeded sample of at most max_users of them."""
    users = np.array([u for u, r in enumerate(relevant) if r], dtype=np.int64)
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def score_metrics(
    scores: np.ndarray, users: np.ndarray, relevant: list[set[int]], exclude: sp.csr_matrix
) -> dict[str, float]:
    """Metrics at K for a dense score block whose rows are `users`."""
    idx, _ = top_k(scores, K, exclude[users])
    out = ranking_metrics(idx, [relevant[u] for u in users], K)
    out[f"coverage@{K}"] = catalog_coverage(idx, scores.shape[1], K)
    return out


def evaluate(
    model: Recommender, users: np.ndarray, relevant: list[set[int]], exclude: sp.csr_matrix, batch: int = 2048
) -> dict[str, float]:
    """Metrics at K of `model` over `users`, scored in batches."""
    recs = []
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        recs.append(top_k(model.score(chunk), K, exclude[chunk])[0])
    idx = np.vstack(recs) if recs else np.zeros((0, K), dtype=np.int64)
    out = ranking_metrics(idx, [relevant[u] for u in users], K)
    out[f"coverage@{K}"] = catalog_coverage(idx, exclude.shape[1], K)
    return out
