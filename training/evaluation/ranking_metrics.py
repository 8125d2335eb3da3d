"""Ranking metrics at k over recommended lists and held-out relevant items."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.arrays import unique_sorted


def _hits(recommended: np.ndarray, relevant: Sequence[set[int]], k: int) -> np.ndarray:
    rec = recommended[:, :k]
    hits = np.zeros(rec.shape, dtype=bool)
    for row, rel in enumerate(relevant):
        if rel:
            hits[row] = [x in rel for x in rec[row]]
    return hits


def ranking_metrics(recommended: np.ndarray, relevant: Sequence[set[int]], k: int = 10) -> dict[str, float]:
    """Mean precision, recall, NDCG and MAP at k over users with at least one relevant item.

    `recommended` is (users, >= k) item indices best first, padded with -1; `relevant` holds the
    held-out item indices per row. MAP@k divides by min(k, |relevant|), NDCG uses binary gains.
    `ndcg@k_ci95` is the half-width of the normal 95% interval of the NDCG mean over those users (the
    evaluation samples users: this says how far the sample's mean may be from all users').
    """
    mask = np.array([len(r) > 0 for r in relevant], dtype=bool)
    if not mask.any():
        return {f"{m}@{k}": 0.0 for m in ("precision", "recall", "ndcg", "map")} | {f"ndcg@{k}_ci95": 0.0, "users": 0}
    rec = np.asarray(recommended)[mask]
    rel = [r for r, m in zip(relevant, mask) if m]
    hits = _hits(rec, rel, k)
    n_rel = np.array([len(r) for r in rel], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    ideal = np.array([discounts[: int(min(n, k))].sum() for n in n_rel])
    cum_hits = np.cumsum(hits, axis=1)
    prec_at_i = cum_hits / np.arange(1, hits.shape[1] + 1)
    ap = (prec_at_i * hits).sum(axis=1) / np.minimum(n_rel, k)
    ndcg = dcg / ideal
    half = 1.959963984540054 * float(ndcg.std(ddof=1)) / np.sqrt(len(ndcg)) if len(ndcg) > 1 else 0.0
    return {
        f"precision@{k}": float((hits.sum(axis=1) / k).mean()),
        f"recall@{k}": float((hits.sum(axis=1) / n_rel).mean()),
        f"ndcg@{k}": float(ndcg.mean()),
        f"map@{k}": float(ap.mean()),
        f"ndcg@{k}_ci95": half,
        "users": int(mask.sum()),
    }


def catalog_coverage(recommended: np.ndarray, n_items: int, k: int = 10) -> float:
    """Share of the catalog that appears in at least one top-k list."""
    rec = np.asarray(recommended)[:, :k]
    shown = unique_sorted(rec[rec >= 0])
    return float(len(shown) / n_items) if n_items else 0.0
