"""The live catalog overlay and the active business rules, as this worker last read them.

Both live in Redis outside any version (keys.CATALOG_OVERLAY, keys.RULES). A worker keeps its copy
until it changes: the live-cache listener tracks the `recsvc:merch:` prefix (CLIENT TRACKING BCAST) and
an invalidation bumps `generation`; the next request reloads both, with the active pointer, in one
round trip. MERCH_SEQ, read with the active pointer every `version_cache_s`, catches a change whose
invalidation was missed (the listener down, or turned off with RECSVC_LIVE_CACHE_USERS=0).

`overlay(base, changes)` is the catalog a request sees: the published one with the live changes
applied, built once per (version, load) and shared by every request until the next change, so
availability filtering stays one set lookup per item. A change applies when it is newer than the
version's catalog (`catalog_as_of`, the items file's time: a retrain on a fresher catalog supersedes
older live changes); a hide applies whatever its age, until the item is PUT again.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import msgspec

from contract import records
from contract.rules import StoredRules, decode_stored

if TYPE_CHECKING:
    from recsvc.store.snapshot import Catalog


class MerchState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every invalidation (the listener's thread)
        self.loaded_generation = -1
        self.seq: bytes | None = None  # MERCH_SEQ when last loaded
        self.load_id = 0  # bumped by every load: overlaid catalogs are built once per load
        self.changes: dict[str, records.ItemChange] = {}
        self.rules: StoredRules | None = None
        self.listener = None  # the LiveCache whose connection tracks the prefix (None: poll only)

    def invalidate(self, key: str | None = None) -> None:
        """Something under the prefix changed (or the listener reconnected and may have missed it)."""
        with self._lock:
            self.generation += 1

    def seen_seq(self, seq: bytes | None) -> None:
        """MERCH_SEQ as read with the active pointer: a change this worker has not loaded yet."""
        if seq != self.seq:
            self.invalidate()

    @property
    def stale(self) -> bool:
        return self.loaded_generation != self.generation

    def begin_load(self) -> int:
        if self.listener is not None:
            self.listener.ensure_listener()
        return self.generation

    def finish_load(self, generation: int, seq: bytes | None, overlay: dict, rules_blob: bytes | None) -> None:
        changes = {
            (k.decode() if isinstance(k, bytes) else k): records.decode(v, records.ItemChange)
            for k, v in overlay.items()
        }
        rules = decode_stored(rules_blob)
        with self._lock:
            self.changes, self.rules, self.seq = changes, rules, seq
            self.load_id += 1
            # An invalidation that arrived during the read leaves us stale: the next request reads again.
            self.loaded_generation = generation


def effective(change: records.ItemChange, catalog_as_of: float | None) -> bool:
    return change.hidden or change.updated_at > (catalog_as_of or 0.0)


def _available(change: records.ItemChange, published: bool) -> bool:
    if change.hidden:
        return False
    available = published if change.available is msgspec.UNSET else change.available
    stock = change.stock
    return bool(available) and (stock is msgspec.UNSET or stock is None or stock > 0)


def overlay(base: Catalog, changes: dict[str, records.ItemChange], load_id: int) -> Catalog:
    """The published catalog with the live changes that are newer than it applied."""
    live = {i: c for i, c in changes.items() if effective(c, base.catalog_as_of)}
    if not live:
        return replace(base, load_id=load_id)
    items = dict(base.items)
    attributes = dict(base.attributes)
    touched: dict[str | None, set[str]] = {}
    new_items = []
    hidden = set()
    for item_id, c in live.items():
        old = items.get(item_id)
        if old is None:
            if c.hidden or c.title is msgspec.UNSET or c.category is msgspec.UNSET:
                continue  # a change to an item this version does not have, and too little to show it
            new_items.append((c.created_at or c.updated_at, item_id))
        title = old[0] if c.title is msgspec.UNSET else c.title
        category = old[1] if c.category is msgspec.UNSET else c.category
        available = _available(c, old[2] if old is not None else True)
        if c.hidden:
            hidden.add(item_id)
        items[item_id] = (title, category, available)
        prev = attributes.get(item_id) or records.ItemAttributes()
        attributes[item_id] = records.ItemAttributes(
            brand=prev.brand if c.brand is msgspec.UNSET else c.brand,
            tags=prev.tags if c.tags is msgspec.UNSET else c.tags,
            price=prev.price if c.price is msgspec.UNSET else c.price,
            margin=prev.margin if c.margin is msgspec.UNSET else c.margin,
        )
        for cat in {None, category, old[1] if old is not None else category}:
            touched.setdefault(cat, set()).add(item_id)
    available = dict(base.available)
    for cat, ids in touched.items():
        current = set(available.get(cat, frozenset()))
        for item_id in ids:
            title, item_cat, ok = items[item_id]
            if ok and (cat is None or item_cat == cat):
                current.add(item_id)
            else:
                current.discard(item_id)
        available[cat] = frozenset(current)
    categories = base.categories | frozenset(c for c in touched if c is not None and available.get(c))
    canonical = base.canonical
    if new_items:
        canonical = dict(canonical) | {i: i for _, i in new_items}
    return replace(
        base,
        items=items,
        categories=categories,
        available=available,
        canonical=canonical,
        attributes=attributes,
        new_items=tuple(i for _, i in sorted(new_items, reverse=True)),
        hidden=frozenset(hidden),
        load_id=load_id,
    )
