"""Published beside the catalog: item attributes (what rules match on), the TF-IDF content index (similar
items for items added live) and the new-arrivals lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from contract import content, records
from training.data import columns as C

NEW_WINDOW_DAYS = 30.0
Ranked = list[tuple[str, float]]


def _tags(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(C.TAG_SEPARATOR) if t.strip()]


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def attributes(catalog: pd.DataFrame, catalog_as_of: float | None) -> records.CatalogAttributes:
    """Brand, tags, price and margin of every showable item (`catalog` is training.lists.catalog_frame)."""
    shown = catalog[catalog["in_catalog"]]
    items = {
        str(row.item_id): records.ItemAttributes(
            brand=str(row.brand),
            tags=_tags(row.tags),
            price=_number(row.price),
            margin=_number(row.margin),
            repurchase_days=_number(getattr(row, "repurchase_days", np.nan)),
        )
        for row in shown.itertuples(index=False)
    }
    return records.CatalogAttributes(items=items, catalog_as_of=catalog_as_of)


def content_index(catalog: pd.DataFrame) -> bytes | None:
    """The TF-IDF index (contract/content.py) of the showable items' title, category, brand and tags."""
    shown = catalog[catalog["in_catalog"]]
    if shown.empty:
        return None
    docs = [
        content.document(str(r.title), str(r.category), str(r.brand), _tags(r.tags))
        for r in shown.itertuples(index=False)
    ]
    vectorizer = TfidfVectorizer(analyzer=content.tokens, sublinear_tf=True, norm="l2", dtype=np.float32)
    matrix = vectorizer.fit_transform(docs).tocsc()  # postings per term
    matrix.sort_indices()
    return content.encode_index(
        shown[C.ITEM_ID].astype(str).tolist(),
        {str(t): int(k) for t, k in vectorizer.vocabulary_.items()},
        vectorizer.idf_,
        matrix.indptr,
        matrix.indices,
        matrix.data,
    )


def new_arrivals(
    catalog: pd.DataFrame, events: pd.DataFrame, n: int, window_days: float = NEW_WINDOW_DAYS
) -> dict[str, Ranked]:
    """Newest showable items, globally ('') and per category: items no event has touched yet first (later
    rows of the items file first), then items first seen within `window_days` of the last event, newest
    first. The items file has no creation date, so first activity stands in for it."""
    shown = catalog[catalog["in_catalog"] & catalog[C.AVAILABLE]]
    first_seen = events.groupby(C.ITEM_ID, sort=False)[C.TIMESTAMP].min()
    latest = events[C.TIMESTAMP].max() if len(events) else None
    seen = first_seen.reindex(shown[C.ITEM_ID])
    never = shown[seen.isna().to_numpy()].iloc[::-1]
    recent = seen[seen.notna().to_numpy()]
    if latest is not None:
        recent = recent[recent >= latest - pd.Timedelta(days=window_days)]
    recent = recent.sort_values(ascending=False, kind="stable")
    order = list(never[C.ITEM_ID].astype(str)) + list(map(str, recent.index))
    category = dict(zip(shown[C.ITEM_ID].astype(str), shown[C.CATEGORY].astype(str)))

    def ranked(ids: list[str]) -> Ranked:
        ids = ids[:n]
        return [(i, round(1.0 - k / max(len(ids), 1), 4)) for k, i in enumerate(ids)]

    out = {"": ranked(order)}
    for cat in sorted(set(category.values())):
        out[cat] = ranked([i for i in order if category[i] == cat])
    return out
