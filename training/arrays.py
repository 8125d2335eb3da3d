"""Array helpers the hot paths share."""

from __future__ import annotations

import numpy as np


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, ascending: what `np.unique(values)` returns.

    numpy >= 2.3 answers a bare `np.unique` from a hash table; on millions of int64 pair keys with
    millions of distinct values that is 60x slower here than sorting (2M keys: 3.1 s vs 0.05 s), and the
    ranking stage's union does it once per block of customers.
    """
    values = np.sort(np.asarray(values).ravel())
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]
