"""`python -m tools bench candidates --data DIR`: candidate sources on a large catalog, exact against
approximate (ALS through the faiss index) and dense against sparse (item-kNN, co-purchase), on one
context of every customer and a seeded sample of them. Times, candidate counts and the recall of the
approximation against exact search (docs/benchmarks.md, "Large catalogs")."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from training.candidates import cf
from training.candidates.base import Candidates, build_context
from training.candidates.union import make_sources
from training.data import columns as C
from training.data.loading import load_events, load_items


def _file(data: Path, name: str) -> Path:
    for ext in ("parquet", "csv"):
        if (data / f"{name}.{ext}").exists():
            return data / f"{name}.{ext}"
    raise SystemExit(f"{data}: no {name}.parquet or {name}.csv")


def _keys(c: Candidates, n_items: int) -> np.ndarray:
    return c.user * n_items + c.item


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(data: Path, users: int = 5000, seed: int = 1) -> int:
    events, _ = load_events(_file(data, "events"))
    items, _ = load_items(_file(data, "items"))
    ctx, took = _timed(lambda: build_context(events, items, events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1)))
    print(f"{platform.node()}: {len(events):,} events, {ctx.n_users:,} x {ctx.n_items:,}; context {took:.1f} s")
    sample = np.sort(np.random.default_rng(seed).choice(ctx.n_users, min(users, ctx.n_users), replace=False))

    als, took = _timed(lambda: cf.ALSSource(seed=seed).fit(ctx))
    print(f"als: fit {took:.1f} s")
    exact, t_exact = _timed(lambda: als.dense_candidates(sample, 60))
    saved, cf.ANN_MIN_ITEMS = cf.ANN_MIN_ITEMS, 0
    try:
        approx, t_first = _timed(lambda: als.candidates(sample, 60))
        approx, t_built = _timed(lambda: als.candidates(sample, 60))
    finally:
        cf.ANN_MIN_ITEMS = saved
    recall = float(np.isin(_keys(exact, ctx.n_items), _keys(approx, ctx.n_items)).mean())
    print(f"als candidates, {len(sample):,} customers: exact {t_exact:.2f} s; index {t_built:.2f} s once built "
          f"(first call {t_first:.2f} s); recall@60 {recall:.4f}; {als.ann}")  # fmt: skip

    for name, n in (("itemknn", 60), ("copurchase", 100)):
        (source,) = make_sources([name], seed)
        _, took = _timed(lambda source=source: source.fit(ctx))
        dense, t_dense = _timed(lambda source=source, n=n: source.dense_candidates(sample, n))
        sparse, t_sparse = _timed(lambda source=source, n=n: source.candidates(sample, n))
        same = len(dense) == len(sparse) and bool(np.array_equal(dense.score, sparse.score))
        print(
            f"{name}: fit {took:.1f} s; candidates dense {t_dense:.2f} s, sparse {t_sparse:.2f} s, same scores {same}"
        )
    return 0
