"""The boundary between external ids (strings from the shop) and internal contiguous indices."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


class IdMap:
    """Owns the mapping external id <-> index 0..n-1. Indices never leave the training job."""

    def __init__(self, ids: Iterable[str]) -> None:
        values = ids if isinstance(ids, (np.ndarray, pd.Series, pd.Index)) else list(ids)
        self._index = pd.Index(pd.unique(np.asarray(values, dtype=object)))
        # built once and shared read-only: code that asked for it per customer spent minutes copying
        self._ids = self._index.to_numpy(dtype=object, copy=True)
        self._ids.flags.writeable = False

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._index

    @property
    def ids(self) -> np.ndarray:
        """The external ids in index order (read-only)."""
        return self._ids

    def to_index(self, ids: Iterable[str] | pd.Series, missing_ok: bool = False) -> np.ndarray:
        """Indices for ids; -1 for unknown ids when missing_ok, else KeyError."""
        # Factorised first: the distinct ids are looked up once each (12.6M events of 330k customers: 9.5 ->
        # 1.6 s, and no Python string object made per row of an Arrow-backed column).
        values = ids if isinstance(ids, (pd.Series, pd.Index, np.ndarray)) else np.asarray(list(ids), dtype=object)
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
        idx = self._index.get_indexer(pd.Index(np.asarray(distinct, dtype=object)))[codes]
        if not missing_ok and (idx < 0).any():
            unknown = np.asarray(values, dtype=object)[idx < 0][:5]
            raise KeyError(f"unknown ids: {list(unknown)}")
        return idx.astype(np.int64)

    def to_ids(self, indices: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(indices, dtype=np.int64)]
