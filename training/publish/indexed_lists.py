"""Ranked lists as the published version stores them: item positions in its catalog (contract.codecs).

Training keeps its lists as internal item indexes (and ids); a publish turns a whole block of rows into
indexed lists at once. From the indexes that is one numpy lookup for the block; from ids (results
built without them) one dictionary lookup per item, which alone took 72% of a 1M-user publish.
"""

from __future__ import annotations

from itertools import chain, repeat

import numpy as np
import pandas as pd

from contract import codecs


class CatalogPositions:
    """Item -> position in the published catalog (its showable items, in order): the lists' index space."""

    def __init__(self, catalog: pd.DataFrame, item_ids: np.ndarray | None = None) -> None:
        """`catalog` has one row per item of `item_ids`, in that order, and `in_catalog` says which are
        published; with `item_ids` given (and matching), internal indexes can be mapped directly."""
        shown = catalog["in_catalog"].to_numpy(dtype=bool)
        catalog_ids = catalog["item_id"].to_numpy()[shown].tolist()
        self.kind = codecs.index_kind(len(catalog_ids))
        self._dtype = codecs.index_dtype(self.kind)
        index = {item: k for k, item in enumerate(catalog_ids)}
        index.setdefault("", -1)  # a short row's padding
        self._index = index
        self._by_internal: np.ndarray | None = None
        if item_ids is not None and len(item_ids) == len(catalog) and (catalog["item_id"].to_numpy() == item_ids).all():
            self._by_internal = np.where(shown, np.cumsum(shown) - 1, -1)

    def positions(self, items: list[str]) -> np.ndarray:
        """Each item's position; -1 for '' and items outside the catalog (lists hold none of those, so
        the plain lookup, a third faster than .get with a default, nearly always does)."""
        try:
            return np.fromiter(map(self._index.__getitem__, items), dtype=np.int64, count=len(items))
        except KeyError:
            return np.fromiter(map(self._index.get, items, repeat(-1)), dtype=np.int64, count=len(items))

    def lists(
        self,
        items: np.ndarray,
        scores: np.ndarray,
        bought: list[list[str]] | None = None,
        internal: np.ndarray | None = None,
    ) -> list[bytes]:
        """One indexed list per row of (rows, length) `items` and `scores` (or `internal` item indexes,
        -1 where padded, when the catalog allows); with `bought`, each row's purchases follow its list.
        Items without a position drop out."""
        if items.size == 0:
            blobs = [codecs.encode_indexed([], [], self.kind) for _ in range(len(items))]
        else:
            if internal is not None and self._by_internal is not None:
                pos = np.where(internal >= 0, self._by_internal[np.clip(internal, 0, None)], -1)
            else:
                pos = self.positions(items.ravel().tolist()).reshape(items.shape)
            valid = pos >= 0
            if valid.all():
                blobs = codecs.encode_indexed_rows(pos, np.asarray(scores), self.kind)
            else:
                blobs = [codecs.encode_indexed(p[ok], s[ok], self.kind) for p, s, ok in zip(pos, scores, valid)]
        if bought is None:
            return blobs
        flat = self.positions(list(chain.from_iterable(bought)))
        keep = flat >= 0
        packed = flat[keep].astype(self._dtype).tobytes()
        kept = np.concatenate([[0], np.cumsum(keep)])  # kept items before each flat position
        ends = kept[np.cumsum([len(b) for b in bought])] * self._dtype.itemsize
        starts = np.concatenate([[0], ends[:-1]])
        return [blob + packed[a:b] if b > a else blob for blob, a, b in zip(blobs, starts.tolist(), ends.tolist())]

    def bought_only(self, items: list[str]) -> bytes:
        """The purchases of a user without a ranked list."""
        pos = self.positions(items)
        return codecs.encode_bought(pos[pos >= 0], self.kind)
