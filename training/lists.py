"""The lists a version serves, computed for every user and item of the final fit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from training.data import columns as C
from training.data.interactions import seen_matrix
from training.data.prepare import Prepared
from training.failures import TrainingError
from training.models.base import Recommender
from training.models.popularity import Popularity, trending_scores

# "auto" lets the ranking stage decide what to show again; the hybrid (tuning, evaluation, the fallback)
# excludes purchases under it.
EXCLUDE_POLICIES = {"auto": {C.PURCHASE}, "purchased": {C.PURCHASE}, "interacted": None, "none": set()}
Ranked = list[tuple[str, float]]


def exclusion(events: pd.DataFrame, prepared: Prepared, policy: str) -> sp.csr_matrix:
    """users x items mask of what the policy removes from a user's list."""
    if policy not in EXCLUDE_POLICIES:
        raise TrainingError(f"--exclude-seen must be one of {sorted(EXCLUDE_POLICIES)}, got '{policy}'")
    types = EXCLUDE_POLICIES[policy]
    if types is not None and not types:
        return sp.csr_matrix(prepared.data.interactions.shape, dtype=np.float32)
    return seen_matrix(events, prepared.users, prepared.items, types)


# Cells of a dense (rows x items) score block computed at once: ~10 MB of float32, so that the blend's
# temporaries are reused from malloc's heap (a 1,024-row block of a 20k-item catalog, 80 MB a temporary,
# was mapped afresh each time: the similar items took 14.1 s against 10.2 s on the 60k x 20k shop).
BLOCK_CELLS = 2_500_000


def rows_per_block(n_items: int) -> int:
    return max(1, BLOCK_CELLS // max(n_items, 1))


def _batches(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def batch_recommend(
    model: Recommender,
    exclude: sp.csr_matrix,
    n: int,
    progress: bool,
    allowed: np.ndarray | None = None,
    batch: int | None = None,
    users: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n per user, in batches, for every user or the given `users` (the other rows stay -1 / NaN);
    `allowed` marks the items that may be shown at all."""
    n_users = exclude.shape[0]
    batch = batch or rows_per_block(exclude.shape[1])
    idx = np.full((n_users, n), -1, dtype=np.int64)
    val = np.full((n_users, n), np.nan, dtype=np.float32)
    todo = np.arange(n_users) if users is None else np.asarray(users, dtype=np.int64)
    for rows in tqdm(list(_batches(len(todo), batch)), desc="recommendations", disable=not progress, leave=False):
        chunk = todo[rows]
        idx[chunk], val[chunk] = model.recommend(chunk, n, exclude, allowed)
    return idx, val


def batch_similar(
    model: Recommender, n: int, progress: bool, allowed: np.ndarray, batch: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n similar items for every item (itself excluded), in batches."""
    n_items = len(allowed)
    batch = batch or rows_per_block(n_items)
    idx = np.full((n_items, n), -1, dtype=np.int64)
    val = np.full((n_items, n), np.nan, dtype=np.float32)
    for items in tqdm(list(_batches(n_items, batch)), desc="similar items", disable=not progress, leave=False):
        idx[items], val[items] = model.similar_items(items, n, allowed)
    return idx, val


def _top_list(ids: np.ndarray, scores: np.ndarray, n: int) -> Ranked:
    order = np.argsort(-scores, kind="stable")[:n]
    return [(str(ids[i]), float(scores[i])) for i in order if scores[i] > 0]


def popular_lists(
    p: Prepared, n: int, allowed: np.ndarray | None = None
) -> tuple[dict[str, Ranked], dict[str, Ranked]]:
    """Popular and trending lists, globally (key '') and per category."""
    pop = Popularity().fit(p.data).item_scores
    trend = trending_scores(p.data)
    ids = p.items.ids
    cats = p.data.item_categories
    if allowed is not None:
        pop, trend = np.where(allowed, pop, 0.0), np.where(allowed, trend, 0.0)
    popular = {"": _top_list(ids, pop, n)}
    trending = {"": _top_list(ids, trend, n)}
    for cat in sorted(set(cats)):
        mask = cats == cat
        popular[cat] = _top_list(ids[mask], pop[mask], n)
        trending[cat] = _top_list(ids[mask], trend[mask], n)
    return popular, trending


def purchased_items(events: pd.DataFrame) -> dict[str, list[str]]:
    bought = events.loc[events[C.EVENT] == C.PURCHASE, [C.USER_ID, C.ITEM_ID]].drop_duplicates()
    return {u: list(g) for u, g in bought.groupby(C.USER_ID, sort=False)[C.ITEM_ID]}


def catalog_frame(items: pd.DataFrame, item_ids: np.ndarray, p: Prepared) -> pd.DataFrame:
    """Catalog over every item the lists may contain (items only seen in events get blank metadata)."""
    cat = items.set_index(C.ITEM_ID).reindex(pd.Index(item_ids, dtype=object))
    return pd.DataFrame(
        {
            C.ITEM_ID: item_ids,
            C.TITLE: cat[C.TITLE].fillna("").to_numpy(),
            C.CATEGORY: p.data.item_categories,
            C.AVAILABLE: cat[C.AVAILABLE].fillna(True).astype(bool).to_numpy(),
            C.PRICE: cat[C.PRICE].to_numpy(dtype=float),
            # What business rules match on (brand, tags, margin), published beside the catalog.
            C.BRAND: cat[C.BRAND].fillna("").to_numpy(dtype=object),
            C.TAGS: cat[C.TAGS].fillna("").to_numpy(dtype=object),
            C.MARGIN: cat[C.MARGIN].to_numpy(dtype=float) if C.MARGIN in cat else np.full(len(item_ids), np.nan),
            "in_catalog": cat[C.TITLE].notna().to_numpy(),
        }
    )


def external_ids(ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Internal indices to external ids; '' where a list was padded (-1)."""
    out = np.where(idx >= 0, ids[np.clip(idx, 0, None)], "")
    return out.astype(object)
