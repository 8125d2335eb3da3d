"""Items bought together (same order; without order ids, the same customer's session) and viewed together.

Baskets come from `order_id` when most events carry one, else from sessions: a customer's events with
gaps under `SESSION_GAP_S`. Each basket adds 1 / log2(1 + size) to every pair of its items (a
wholesale order of 500 lines says less about each pair than a basket of three); similarity is the
cosine of those counts, kept to the `neighbours` strongest per item. A customer's score for an item
is the similarity-weighted sum over their position-decayed history, as for item-kNN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.candidates.base import BlockSource, Context, sparse_rows_top_k
from training.data import columns as C

SESSION_GAP_S = 3600.0


def basket_ids(ev: pd.DataFrame, use_orders: bool) -> np.ndarray:
    """One integer per basket for every event row: the customer's order where the row has an order id,
    else their session."""
    sessions = _session_ids(ev)
    if not (use_orders and C.ORDER_ID in ev.columns):
        return sessions
    order_id = ev[C.ORDER_ID]
    has = order_id.notna().to_numpy() & (order_id.astype("string").fillna("") != "").to_numpy()
    key = np.where(
        has,
        ev["u"].astype(str).to_numpy() + "\x1f" + order_id.astype("string").fillna("").to_numpy(dtype=object),
        "\x1e" + sessions.astype(str).astype(object),
    )
    return pd.factorize(key)[0]


def _session_ids(ev: pd.DataFrame) -> np.ndarray:
    """A customer's events with gaps under SESSION_GAP_S share a session."""
    order = np.lexsort((ev[C.TIMESTAMP].astype("int64").to_numpy(), ev["u"].to_numpy()))
    ts = ev[C.TIMESTAMP].astype("int64").to_numpy()[order] / 1e9
    uu = ev["u"].to_numpy()[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (uu[1:] != uu[:-1]) | (np.diff(ts) > SESSION_GAP_S)
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def cooccurrence(ev: pd.DataFrame, n_items: int, use_orders: bool, neighbours: int) -> sp.csr_matrix:
    """Cosine of size-discounted co-occurrence counts, top `neighbours` per item, zero diagonal."""
    if ev.empty:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    b = basket_ids(ev, use_orders)
    # Each (basket, item) once, in the order of first appearance (a frame's drop_duplicates, on one key)
    key = b * n_items + ev["i"].to_numpy()
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.sort(order[np.r_[True, ordered[1:] != ordered[:-1]]])
    pair_b, pair_i = b[first], ev["i"].to_numpy()[first]
    size = np.bincount(pair_b, minlength=int(b.max()) + 1).astype(np.float32)
    multi = size[pair_b] >= 2
    pair_b, pair_i = pair_b[multi], pair_i[multi]
    if not len(pair_b):
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    codes, uniq = pd.factorize(pair_b)
    w = (1.0 / np.log2(1.0 + size[uniq]))[codes].astype(np.float32)
    basket = sp.csr_matrix((np.sqrt(w), (codes, pair_i)), shape=(len(uniq), n_items))
    co = (basket.T @ basket).tocsr()
    diag = co.diagonal()
    co.setdiag(0)
    co.eliminate_zeros()
    inv = (1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))).astype(co.dtype)
    # scaled in place, as diag(inv) @ co @ diag(inv) rounds each product (no two copies of a big product)
    rows = np.repeat(np.arange(n_items), np.diff(co.indptr))
    co.data = (inv[rows] * co.data) * inv[co.indices]
    return sparse_rows_top_k(co.astype(np.float32, copy=False), neighbours)


class CoPurchaseSource(BlockSource):
    """Bought together: baskets of purchases (orders, or sessions when there are no order ids)."""

    name = "copurchase"
    exclude_own = True
    event_types: tuple[str, ...] = (C.PURCHASE,)

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(self, ctx: Context) -> CoPurchaseSource:
        super().fit(ctx)
        columns = ["u", "i", C.TIMESTAMP] + ([C.ORDER_ID] if C.ORDER_ID in ctx.events.columns else [])
        ev = ctx.events.loc[ctx.events[C.EVENT].isin(self.event_types).to_numpy(), columns]
        self.sim = cooccurrence(ev, ctx.n_items, ctx.has_orders and self.name == "copurchase", self.neighbours)
        self.h = ctx.log_history
        self.active = self.sim.nnz > 0
        return self

    sparse_scores = True

    def sparse_block(self, users: np.ndarray) -> sp.csr_matrix:
        if not self.active:
            return sp.csr_matrix((len(users), self.ctx.n_items), dtype=np.float32)
        return self.h[users] @ self.sim

    def similarity(self, anchors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.sim[anchors][:, targets].toarray()


class CoViewSource(CoPurchaseSource):
    """Viewed together in one session (needs view events; proposes nothing in a purchase-only log)."""

    name = "coview"
    event_types = (C.VIEW, C.CART, C.CLICK)
