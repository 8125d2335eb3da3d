"""Similar items for an item the published version has no list for (one added live): the closest texts in
the version's TF-IDF index (contract/content.py), computed at request time from the item's title,
category, brand and tags. Costs the postings of the item's few words, not a pass over the catalog."""

from __future__ import annotations

from contract.content import document
from recsvc.store import Catalog, Ranked, Store

MAX_SIMILAR = 100


def content_similar(store: Store, catalog: Catalog, item_id: str) -> Ranked:
    index = store.merch.content_index(catalog.version)
    if index is None:
        return [], []
    title, category, _ = catalog.items[item_id]
    attrs = catalog.attributes.get(item_id)
    text = document(title, category, attrs.brand if attrs else "", attrs.tags if attrs else ())
    return index.similar(text, MAX_SIMILAR, skip=(item_id,))
