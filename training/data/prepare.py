"""Turn validated frames into the id maps and `TrainingData` the models are fitted on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.data import columns as C
from training.data.idmap import IdMap
from training.data.interactions import build_matrix, event_weights, position_decay
from training.models.base import TrainingData


@dataclass
class Prepared:
    data: TrainingData
    users: IdMap
    items: IdMap
    as_of: pd.Timestamp


def item_documents(items: pd.DataFrame, item_ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """One text per item (title, category twice, brand, tags, description) and its category.

    Items known only from events get an empty text and the category 'uncategorized'.
    """
    catalog = items.set_index(C.ITEM_ID).reindex(pd.Index(item_ids, dtype=object))
    cat = catalog[C.CATEGORY].fillna("uncategorized").astype(str)
    parts = [
        catalog[C.TITLE].fillna(""),
        ("cat_" + cat.str.replace(r"\W+", "_", regex=True)).where(catalog[C.CATEGORY].notna(), ""),
        cat.where(catalog[C.CATEGORY].notna(), ""),
        catalog[C.BRAND].fillna("").map(lambda b: f"brand_{b.replace(' ', '_')}" if b else ""),
        catalog[C.TAGS].fillna("").str.replace(C.TAG_SEPARATOR, " ", regex=False),
        catalog[C.DESCRIPTION].fillna(""),
    ]
    text = parts[0].astype(str)
    for p in parts[1:]:
        text = text + " " + p.astype(str)
    return text.str.strip().tolist(), cat.to_numpy(dtype=object)


def prepare(
    events: pd.DataFrame,
    items: pd.DataFrame,
    weights: Mapping[str, float] = C.DEFAULT_EVENT_WEIGHTS,
    half_life_days: float | None = None,
    as_of: pd.Timestamp | None = None,
    users: IdMap | None = None,
    item_map: IdMap | None = None,
    history_half_life: float | None = 10.0,
) -> Prepared:
    """Id maps over (events' users) and (catalog items + items seen only in events), and the matrix."""
    as_of = as_of if as_of is not None else events[C.TIMESTAMP].max()
    users = users or IdMap(events[C.USER_ID].unique())
    if item_map is None:
        item_map = IdMap(np.concatenate([items[C.ITEM_ID].to_numpy(dtype=object), events[C.ITEM_ID].unique()]))
    matrix = build_matrix(events, users, item_map, weights, half_life_days, as_of)
    history = (
        build_matrix(events, users, item_map, weights, half_life_days, as_of, position_decay(events, history_half_life))
        if history_half_life
        else matrix
    )
    text, categories = item_documents(items, item_map.ids)
    item_idx = item_map.to_index(events[C.ITEM_ID], missing_ok=True)
    keep = item_idx >= 0
    age = (as_of - events[C.TIMESTAMP]).dt.total_seconds().to_numpy() / 86400.0
    data = TrainingData(
        interactions=matrix,
        history=history,
        item_text=text,
        item_categories=categories,
        event_items=item_idx[keep],
        event_weights=event_weights(events, weights)[keep],
        event_age_days=age[keep],
    )
    return Prepared(data=data, users=users, items=item_map, as_of=as_of)
