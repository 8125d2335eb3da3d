"""Live catalog changes: PUT (the whole item), PATCH (some fields), DELETE (hide), bulk upserts.

Changes go to the overlay (recsvc/store/merch.py, one atomic transaction per request) and every worker
applies them within a second (recsvc/store/catalog_overlay.py). A PATCH or a bulk entry merges into the
item's live change, unless a newer published catalog has superseded that change: then it starts afresh
from the published item, so a stale live value never comes back with a new date.
"""

from __future__ import annotations

import time

import msgspec

from contract import records
from recsvc.errors import BadRequest, NotFound
from recsvc.merch_bodies import BulkItem, ItemBody, ItemPatch
from recsvc.store import Catalog, NoActiveVersion, Store
from recsvc.store.catalog_overlay import effective


def _views(store: Store) -> tuple[Catalog | None, Catalog | None]:
    """(the live catalog, the published one) of the active version; (None, None) before any publish."""
    try:
        live = store.versions.current()
    except NoActiveVersion:
        return None, None
    return live, store.versions.published_catalog(live.version)


def _exists(live: Catalog | None, item_id: str) -> bool:
    return live is not None and item_id in live.items and item_id not in live.hidden


def _base(old: records.ItemChange | None, published: Catalog | None) -> dict:
    """The fields of the item's current live change that still apply (none when superseded)."""
    if old is None or (published is not None and not effective(old, published.catalog_as_of)):
        return {}
    return {k: v for k, v in msgspec.structs.asdict(old).items() if v is not msgspec.UNSET}


def _change(fields: dict, now: float, created_at: float | None) -> records.ItemChange:
    fields = {k: v for k, v in fields.items() if k not in ("updated_at", "hidden", "created_at")}
    return records.ItemChange(updated_at=now, created_at=created_at, **fields)


def _created(old: records.ItemChange | None, published: Catalog | None, item_id: str, now: float) -> float | None:
    """When the item first came live (new arrivals): kept across changes; None for published items."""
    if published is not None and item_id in published.items:
        return None
    return old.created_at if old is not None and old.created_at else now


def put_item(store: Store, item_id: str, body: ItemBody) -> dict:
    live, published = _views(store)
    now = time.time()

    def build(old: dict) -> dict:
        return {item_id: _change(body.model_dump(), now, _created(old[item_id], published, item_id, now))}

    written = store.merch.change_items([item_id], build)
    if live is None:  # nothing published yet: the change waits for the first version
        return {"item_id": item_id, "source": "live", "updated_at": written[item_id].updated_at}
    return item_view(store, item_id)


def patch_item(store: Store, item_id: str, patch: ItemPatch) -> dict:
    live, published = _views(store)
    if not _exists(live, item_id):
        raise NotFound(f"unknown item '{item_id}' (PUT creates an item)", code="unknown_item")
    now = time.time()

    def build(old: dict) -> dict:
        prev = old[item_id]
        fields = _base(prev, published) | patch.changes()
        return {item_id: _change(fields, now, _created(prev, published, item_id, now))}

    store.merch.change_items([item_id], build)
    return item_view(store, item_id)


def delete_item(store: Store, item_id: str) -> dict:
    """Hide the item from every list until it is PUT again (a retrain does not bring it back)."""
    live, published = _views(store)
    if live is None or item_id not in live.items:
        raise NotFound(f"unknown item '{item_id}'", code="unknown_item")
    now = time.time()

    def build(old: dict) -> dict:
        prev = old[item_id]
        change = _change(_base(prev, published), now, _created(prev, published, item_id, now))
        return {item_id: msgspec.structs.replace(change, hidden=True)}

    store.merch.change_items([item_id], build)
    return {"item_id": item_id, "hidden": True}


def bulk(store: Store, entries: list[BulkItem]) -> dict:
    """Upserts: a known item takes the fields given, one new to the catalog (or deleted) needs a title and a
    category. Checked whole before anything is written."""
    live, published = _views(store)
    for k, e in enumerate(entries):
        if not _exists(live, e.item_id) and (e.title is None or e.category is None):
            raise BadRequest(
                f"items[{k}]: item '{e.item_id}' is not in the catalog: give a title and a category",
                code="invalid_item",
            )
    now = time.time()
    last = {e.item_id: e for e in entries}  # a repeated id: its last entry wins

    def build(old: dict) -> dict:
        out = {}
        for item_id, e in last.items():
            prev = old[item_id]
            fields = (_base(prev, published) if _exists(live, item_id) else {}) | e.changes()
            out[item_id] = _change(fields, now, _created(prev, published, item_id, now))
        return out

    written = store.merch.change_items(list(last), build)
    return {"accepted": len(entries), "items": len(written)}


def item_view(store: Store, item_id: str) -> dict:
    """The item as the service shows it now: published values with live changes applied."""
    live, published = _views(store)
    if live is None or item_id not in live.items:
        raise NotFound(f"unknown item '{item_id}'", code="unknown_item")
    title, category, available = live.items[item_id]
    a = live.attributes.get(item_id) or records.ItemAttributes()
    change = store.versions.merch.changes.get(item_id)
    applied = change is not None and effective(change, live.catalog_as_of)
    return {
        "item_id": item_id,
        "model_version": live.version,
        "title": title,
        "category": category,
        "brand": a.brand,
        "tags": a.tags,
        "price": a.price,
        "margin": a.margin,
        "available": available,
        "hidden": item_id in live.hidden,
        "stock": change.stock if applied and change.stock is not msgspec.UNSET else None,
        "source": "live" if applied else "published",
        "updated_at": change.updated_at if applied else None,
        "in_published_catalog": published is not None and item_id in published.items,
    }
