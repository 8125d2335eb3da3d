"""Collaborative-filtering neighbours of the customer's (recent) items: EASE, item-kNN (BM25) and ALS.

All three score from the customer's position-decayed history (recent items weigh most) and leave the
customer's own items to the history source. EASE needs an items x items inverse, so it is fitted only
when the catalog has at most `EASE_MAX_ITEMS` items with interactions.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from training.candidates.ann import InnerProductIndex
from training.candidates.base import BlockSource, Candidates, Context, log_scaled
from training.models.als import FittedFactors
from training.threads import cpus

EASE_MAX_ITEMS = 6000  # fitted up to three times per run (two training windows and serving): seconds each here
# ALS candidates come from an approximate index from this many items: exact scoring is a dense
# customers x items product (2M x 200k x 64 factors: hours on two cores).
ANN_MIN_ITEMS = 50_000
ANN_MAX_OWN = 200  # a query over-fetches by the most items one of its customers owns, up to this
ANN_QUERY_USERS = 20_000  # customers per index search
ANN_TUNING_SAMPLE = 500  # customers whose exact top-n choose how many cells a query visits
ANN_RECALL_SAMPLE = 200  # other customers whose exact top-n (own items left out) the result is checked on
# Pairs scored at once by score_pairs: the gathered factor rows of 64k pairs (16 MB) are reused from
# malloc's heap; 1M pairs' (256 MB) were mapped afresh each chunk, page faults twice the arithmetic.
PAIR_CHUNK = 65_536


def spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (half the work of a general inverse).

    One BLAS thread: on a shared two-core machine two threads were up to four times slower under load.
    """
    with threadpool_limits(1, "blas"):
        c, info = lapack.spotrf(a, lower=False) if a.dtype == np.float32 else lapack.dpotrf(a, lower=False)
        if info != 0:
            raise np.linalg.LinAlgError(f"gram matrix is not positive definite (potrf info {info})")
        inv, info = lapack.spotri(c, lower=False) if a.dtype == np.float32 else lapack.dpotri(c, lower=False)
    return np.triu(inv) + np.triu(inv, 1).T


class EASESource(BlockSource):
    """EASE (Steck 2019) on the log-scaled weights, restricted to items with interactions."""

    name = "ease"
    exclude_own = True

    def __init__(self, l2: float = 200.0) -> None:
        self.l2 = l2

    @staticmethod
    def fits(ctx: Context) -> bool:
        return int((np.diff(ctx.weights.tocsc().indptr) > 0).sum()) <= EASE_MAX_ITEMS

    def fit(self, ctx: Context) -> EASESource:
        super().fit(ctx)
        x = log_scaled(ctx.weights)
        self.active = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
        xa = x[:, self.active]
        gram = (xa.T @ xa).toarray().astype(np.float32)  # float32: twice as fast, ample with this ridge
        gram[np.diag_indices_from(gram)] += self.l2
        p = spd_inverse(gram)
        b = -p / np.diag(p)
        b[np.diag_indices_from(b)] = 0.0
        self.b = b.astype(np.float32)
        self.h = ctx.log_history[:, self.active].tocsr()
        return self

    def block(self, users: np.ndarray) -> np.ndarray:
        out = np.full((len(users), self.ctx.n_items), -np.inf, dtype=np.float32)
        out[:, self.active] = self.h[users] @ self.b
        return out

    def similarity(self, anchors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """EASE weight of anchor item -> target item (0 for items without interactions)."""
        pos = np.full(self.ctx.n_items, -1)
        pos[self.active] = np.arange(len(self.active))
        a, t = pos[anchors], pos[targets]
        out = np.zeros((len(anchors), len(targets)), dtype=np.float32)
        ok_a, ok_t = a >= 0, t >= 0
        out[np.ix_(ok_a, ok_t)] = self.b[np.ix_(a[ok_a], t[ok_t])]
        return out


class ItemKNNSource(BlockSource):
    """Item-item BM25-weighted cosine neighbours (implicit), top `neighbours` per item."""

    name = "itemknn"
    exclude_own = True

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(self, ctx: Context) -> ItemKNNSource:
        from implicit.nearest_neighbours import BM25Recommender

        super().fit(ctx)
        model = BM25Recommender(K=self.neighbours, num_threads=1)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(ctx.weights, show_progress=False)
        sim = sp.csr_matrix(model.similarity, dtype=np.float32)
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.sim = sim
        self.h = ctx.log_history
        return self

    sparse_scores = True

    def sparse_block(self, users: np.ndarray) -> sp.csr_matrix:
        return self.h[users] @ self.sim

    def similarity(self, anchors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.sim[anchors][:, targets].toarray()


class ALSSource(BlockSource):
    """Implicit ALS (seeded: identical factors run to run, at any thread count)."""

    name = "als"
    exclude_own = True

    alpha = 2.0
    low_after_selection = True  # dot products of randomly started factors: no ties to pick among

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15, seed: int = 42) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed
        self._ann: InnerProductIndex | None = None  # built on the first large-catalog query
        self.ann: dict | None = None  # the index's settings and measured recall, for the report

    def fit(self, ctx: Context) -> ALSSource:
        from implicit.cpu.als import AlternatingLeastSquares

        super().fit(ctx)
        conf = log_scaled(ctx.weights)
        with threadpool_limits(1, "blas"):
            # the same factors at any thread count (training/threads.py)
            model = AlternatingLeastSquares(**self.params(), num_threads=cpus())
            model.fit(conf, show_progress=False)
        self.uf = np.asarray(model.user_factors, dtype=np.float32)
        self.vf = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def block(self, users: np.ndarray) -> np.ndarray:
        return self.uf[users] @ self.vf.T

    def params(self) -> dict:
        """implicit's settings of this fit (what decides the factors besides the data)."""
        keys = ("factors", "regularization", "alpha", "iterations")
        return {k: getattr(self, k) for k in keys} | {"random_state": self.seed}

    def fitted_factors(self) -> FittedFactors:
        """The factors and what they were fitted on, for a model that would fit the same again."""
        ctx = self.ctx
        return FittedFactors(ctx.users.ids, ctx.items.ids, ctx.weights, self.uf, self.vf, self.params())

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Exact dot products pair by pair: no users x items block (the catalog may be 200k items)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.empty(len(users), dtype=np.float32)
        for start in range(0, len(users), PAIR_CHUNK):
            end = start + PAIR_CHUNK
            out[start:end] = np.einsum("ij,ij->i", self.uf[users[start:end]], self.vf[items[start:end]])
        return out

    def candidates(self, users: np.ndarray, n: int) -> Candidates:
        """Exact top-n on catalogs under `ANN_MIN_ITEMS` items; above, an inverted-file index (faiss) over
        the allowed items' factors, its recall against exact search measured on a sample (`self.ann`)."""
        if self.ctx.n_items < ANN_MIN_ITEMS:
            return super().candidates(users, n)
        users = np.asarray(users, dtype=np.int64)
        if self._ann is None:
            self._ann = InnerProductIndex(self.vf, np.flatnonzero(self.ctx.allowed), seed=self.seed)
            tuning = np.random.default_rng(self.seed + 1).choice(
                users, min(len(users), ANN_TUNING_SAMPLE), replace=False
            )
            self._ann.tune(self.uf[tuning], n)
        found = self._ann_candidates(users, n)
        if self.ann is None and len(users):
            self.ann = self._measure_recall(users, n, found)
        return found

    def _ann_candidates(self, users: np.ndarray, n: int) -> Candidates:
        parts = []
        for start in range(0, len(users), ANN_QUERY_USERS):
            chunk = users[start : start + ANN_QUERY_USERS]
            own = self.ctx.weights[chunk]
            # over-fetch by the most items one of these customers owns (they are filtered out after)
            extra = int(min(np.diff(own.indptr).max(initial=0), ANN_MAX_OWN))
            scores, items = self._ann.search(self.uf[chunk], n + extra)
            rows = np.broadcast_to(np.arange(len(chunk))[:, None], items.shape)
            keep = (items >= 0) & (scores > self.min_score)
            owned = np.zeros(items.shape, dtype=bool)
            if own.nnz:
                own_keys = np.repeat(np.arange(len(chunk)), np.diff(own.indptr)) * self.ctx.n_items + own.indices
                owned = np.isin(rows * self.ctx.n_items + np.maximum(items, 0), own_keys)
            keep &= ~owned
            rank = np.cumsum(keep, axis=1)
            keep &= rank <= n
            parts.append(
                Candidates(
                    chunk[rows[keep]],
                    items[keep].astype(np.int64),
                    scores[keep].astype(np.float32),
                    rank[keep].astype(np.int32),
                )
            )
        return Candidates.concat(parts)

    def _measure_recall(self, users: np.ndarray, n: int, found: Candidates) -> dict:
        sample = np.random.default_rng(self.seed).choice(users, min(len(users), ANN_RECALL_SAMPLE), replace=False)
        exact = self.dense_candidates(np.sort(sample), n)
        exact_keys = exact.user * self.ctx.n_items + exact.item
        found_keys = found.user * self.ctx.n_items + found.item
        recall = float(np.isin(exact_keys, found_keys).mean()) if len(exact_keys) else 1.0
        return {
            "index": "faiss IVF-Flat over inner products as distances",
            **self._ann.settings,
            "recall_at_n": round(recall, 4),
            "n": n,
            "sample_users": int(len(sample)),
        }
