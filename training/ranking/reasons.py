"""A plain reason per recommended item, from the strongest source that proposed it.

Codes (strings, so they export and publish as they are; contract/reasons.py words them): `buy_again` (the customer bought it
before), `bought_with:<item>` (co-purchase with one of their items), `similar_to:<item>` (CF or
co-view neighbour of one of their items), `viewed_before`, `popular_in:<category>`, `popular`,
`trending`, `for_you` (the ranker liked it for reasons no single source explains). The anchor item is
the one of the customer's `ANCHORS` most weighted recent items with the largest weight x similarity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.candidates.base import CandidateSource, Context, SortedEntries

ANCHORS = 20
ANCHORED = {"copurchase": "bought_with", "ease": "similar_to", "itemknn": "similar_to", "coview": "similar_to"}
# Sources by the reason they give when they are the strongest proposer.
PLAIN = {"popular": "popular", "trending": "trending", "history": "viewed_before", "als": "similar_to"}


def _top_anchors(history: sp.csr_matrix, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(len(users), k) anchor items and weights (-1 / 0 padded): each user's k heaviest history items."""
    items = np.full((len(users), k), -1, dtype=np.int64)
    weights = np.zeros((len(users), k), dtype=np.float32)
    for row, u in enumerate(users):
        lo, hi = history.indptr[u], history.indptr[u + 1]
        if hi == lo:
            continue
        idx, val = history.indices[lo:hi], history.data[lo:hi]
        top = np.argsort(-val, kind="stable")[:k]
        items[row, : len(top)], weights[row, : len(top)] = idx[top], val[top]
    return items, weights


class AnchorSimilarity:
    """Each anchored source's similarity anchor -> target, its matrix's entries sorted once for every block
    of customers served (sorting them per block was 30 s of the 12.6M-event shop's serving)."""

    def __init__(self, sources: dict[str, CandidateSource]) -> None:
        self._entries = {
            name: SortedEntries(s.sim)
            for name, s in sources.items()
            if name in ANCHORED and isinstance(getattr(s, "sim", None), sp.csr_matrix)
        }

    def __call__(self, name: str, source: CandidateSource, anchors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """source similarity anchor -> target for aligned arrays (0 where unknown)."""
        if name in self._entries:
            return self._entries[name].gather(anchors, targets)
        return _dense_similarity(source, anchors, targets)


def _dense_similarity(source: CandidateSource, anchors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The same for a source with a dense item x item matrix over its active items (EASE), else 0."""
    if hasattr(source, "b") and hasattr(source, "active"):
        pos = np.full(source.ctx.n_items, -1)
        pos[source.active] = np.arange(len(source.active))
        a, t = pos[anchors], pos[targets]
        ok = (a >= 0) & (t >= 0)
        out = np.zeros(len(anchors), dtype=np.float32)
        out[ok] = source.b[a[ok], t[ok]]
        return out
    return np.zeros(len(anchors), dtype=np.float32)


def reasons(
    ctx: Context,
    sources: dict[str, CandidateSource],
    rows: pd.DataFrame,
    quotas: dict[str, int],
    similarity: AnchorSimilarity | None = None,
) -> np.ndarray:
    """Reason code per row of `rows` (u, i, ui_days and r_<source> columns of the recommended pairs);
    `similarity`: the sources' `AnchorSimilarity`, when made once for many calls."""
    n = len(rows)
    codes = np.full(n, "for_you", dtype=object)
    if not n:
        return codes
    similarity = similarity or AnchorSimilarity(sources)
    u = rows["u"].to_numpy(dtype=np.int64)
    i = rows["i"].to_numpy(dtype=np.int64)
    names = [s for s in sources if f"r_{s}" in rows]
    # strongest proposer: the smallest rank relative to the source's quota
    rel = np.column_stack([rows[f"r_{s}"].to_numpy(dtype=np.float64) / quotas.get(s, 50) for s in names])
    rel = np.where(np.isnan(rel), np.inf, rel)
    best = np.argmin(rel, axis=1)
    has_any = np.isfinite(rel[np.arange(n), best])
    uniq_users, inverse = np.unique(u, return_inverse=True)
    anchor_items, anchor_w = _top_anchors(ctx.history, uniq_users, ANCHORS)
    for k, name in enumerate(names):
        sel = has_any & (best == k)
        if not sel.any():
            continue
        if name in ANCHORED:
            idx = np.flatnonzero(sel)
            cand = anchor_items[inverse[idx]]  # (m, ANCHORS)
            w = anchor_w[inverse[idx]]
            flat_a = np.where(cand >= 0, cand, 0).ravel()
            flat_t = np.repeat(i[idx], ANCHORS)
            s = similarity(name, sources[name], flat_a, flat_t).reshape(cand.shape) * w
            s = np.where((cand >= 0) & (cand != i[idx][:, None]), s, 0.0)
            j = np.argmax(s, axis=1)
            ok = s[np.arange(len(idx)), j] > 0
            # one string per anchor, shared by its rows (a string per row: 33M of them at 330k customers)
            which, anchors = pd.factorize(cand[np.arange(len(idx)), j][ok])
            texts = np.array([f"{ANCHORED[name]}:{a}" for a in ctx.items.ids[anchors]], dtype=object)
            codes[idx[ok]] = texts[which]
        elif name in ("category", "brand"):
            idx = np.flatnonzero(sel)
            if name == "category":
                texts = np.array([f"popular_in:{c}" for c in ctx.categories], dtype=object)
                codes[idx] = texts[ctx.item_category[i[idx]]]
            else:
                codes[idx] = "popular"
        elif name in PLAIN:
            codes[sel] = PLAIN[name] if name != "als" else "for_you"
    if "ui_days" in rows:
        codes[rows["ui_days"].to_numpy() > 0] = "buy_again"
    return codes
