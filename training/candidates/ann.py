"""Approximate inner-product search over item factors (faiss), for catalogs too large to score exactly.

Inner products are turned into Euclidean distances (Bachrach et al. 2014: every item vector gets one more
coordinate, sqrt(M^2 - |v|^2) with M the largest norm, every query a 0 there, so the nearest item is the
one of largest inner product), then searched with an inverted-file index (IVF-Flat): items clustered
into `nlist` cells, a query visiting only its `nprobe` nearest cells, as few as reach `TARGET_RECALL`
against exact search on a sample of the queries (`tune`). Plain inner-product clustering
found under half of ALS's exact top 60 on a 200k-item shop (item norms spread over three orders of
magnitude); the transformed index found 99.7% (docs/benchmarks.md). Seeded clustering: the same factors
give the same index and the same answers run to run.
"""

from __future__ import annotations

import math

import numpy as np

from training.threads import cpus

CELL_ITEMS = 39  # faiss wants at least 39 training points per cell
PROBE_SHARE = 0.02  # share of the cells a query visits before `tune` widens it
TARGET_RECALL = 0.95  # of the exact top k, on the tuning sample


class InnerProductIndex:
    """The best items for a query vector by inner product, among `items` (indexes into `factors`)."""

    def __init__(self, factors: np.ndarray, items: np.ndarray, seed: int = 42) -> None:
        import faiss

        self.items = np.asarray(items, dtype=np.int64)
        self.vectors = np.ascontiguousarray(factors[self.items], dtype=np.float32)
        norms = np.linalg.norm(self.vectors, axis=1)
        top = float(norms.max(initial=0.0))
        lift = np.sqrt(np.maximum(top * top - norms * norms, 0.0)).astype(np.float32)
        x = np.hstack([self.vectors, lift[:, None]])
        d = x.shape[1]
        nlist = max(1, min(int(4 * math.sqrt(len(x))), len(x) // CELL_ITEMS))
        self.quantizer = faiss.IndexFlatL2(d)
        self.index = faiss.IndexIVFFlat(self.quantizer, d, nlist)
        self.index.cp.seed = seed
        faiss.omp_set_num_threads(cpus())
        if len(x):
            self.index.train(x)
            self.index.add(x)
        self.index.nprobe = max(1, math.ceil(nlist * PROBE_SHARE))
        self.settings = {"items": int(len(x)), "nlist": int(nlist), "nprobe": int(self.index.nprobe)}

    def tune(self, queries: np.ndarray, k: int, target: float = TARGET_RECALL) -> float:
        """Double `nprobe` until the index finds `target` of the exact top k of `queries` (a sample of
        the real ones); the recall reached is returned and kept in `settings`."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.index.ntotal)
        if k <= 0 or not len(queries):
            return 1.0
        exact = np.argpartition(-(queries @ self.vectors.T), k - 1, axis=1)[:, :k]
        want = (np.arange(len(queries))[:, None] * len(self.items) + exact).ravel()
        while True:
            _, pos = self._search(queries, k)
            got = (np.arange(len(queries))[:, None] * len(self.items) + pos).ravel()
            recall = float(np.isin(want, got[pos.ravel() >= 0]).mean())
            if recall >= target or self.index.nprobe >= self.index.nlist:
                break
            self.index.nprobe = min(self.index.nlist, 2 * self.index.nprobe)
        self.settings |= {"nprobe": int(self.index.nprobe), "tuning_recall": round(recall, 4),
                          "tuning_queries": int(len(queries))}  # fmt: skip
        return recall

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        lifted = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        return self.index.search(lifted, k)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(inner products, item indexes) of the k best per query, best first; -1 and -inf where fewer
        were found."""
        k = min(k, self.index.ntotal)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if k <= 0 or not len(queries):
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        _, pos = self._search(queries, k)
        found = pos >= 0
        safe = np.maximum(pos, 0)
        # the exact inner products of what was found (the distances give the same order, less precisely)
        scores = np.einsum("qd,qkd->qk", queries, self.vectors[safe]).astype(np.float32)
        scores[~found] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")
        items = np.where(found, self.items[safe], -1)
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(items, order, axis=1)
