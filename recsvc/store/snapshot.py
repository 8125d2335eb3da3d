"""The active version as a worker sees it: the version pointer, the catalog, experiments and the fallback.

The pointer (and the experiments stored beside it) is trusted for `version_cache_s`; a version's
catalog never changes, so it is decoded once. The fallback snapshot is the active version's popular
lists, refreshed every `fallback_refresh_s`: what the list endpoints serve while Redis is away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from contract import codecs, keys, records, versions
from recsvc.settings import Settings
from recsvc.store.catalog_overlay import MerchState, overlay
from recsvc.store.connection import RedisConnection, RedisDown
from recsvc.telemetry import FALLBACKS

Ranked = tuple[list[str], Sequence[float]]  # ids, scores (a list or a float64 array)
EMPTY: Ranked = ([], [])


def _pairs(reply: list | dict) -> dict:
    """HGETALL's reply as a dict (RESP2 gives a flat list on the raw connection)."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


class NoActiveVersion(Exception):
    """Redis is up but nothing has been published yet."""


@dataclass
class Catalog:
    version: str
    items: dict[str, tuple[str, str, bool]]  # item id -> (title, category, available)
    categories: frozenset[str] = field(default_factory=frozenset)
    # Available items, all (key None) and per category: one set lookup filters a list at request time.
    available: dict[str | None, frozenset[str]] = field(default_factory=dict)
    # Each id's own string object: cached lists point at these instead of keeping 100 decoded copies.
    canonical: dict[str, str] = field(default_factory=dict)
    # Brand, tags, price and margin (what business rules match on), and how fresh the items file was.
    attributes: dict[str, records.ItemAttributes] = field(default_factory=dict)
    catalog_as_of: float | None = None
    # From the live overlay (recsvc/store/catalog_overlay.py): items new to the version, newest first;
    # hidden (deleted) items; which overlay load this view was built from (-1: the published catalog).
    new_items: tuple[str, ...] = ()
    hidden: frozenset[str] = frozenset()
    load_id: int = -1
    # The published ids in order: the positions indexed lists refer to (contract.codecs.decode_indexed).
    ids: list[str] = field(default_factory=list)

    @classmethod
    def decode(cls, version: str, blob: bytes, attributes: bytes | None = None) -> Catalog:
        attrs = records.decode(attributes, records.CatalogAttributes) or records.CatalogAttributes()
        items = codecs.decode_catalog(blob)
        by_category: dict[str | None, set[str]] = {None: set()}
        for item_id, (_, category, available) in items.items():
            by_category.setdefault(category, set())
            if available:
                by_category[None].add(item_id)
                by_category[category].add(item_id)
        categories = frozenset(c for c in by_category if c is not None)
        available = {c: frozenset(ids) for c, ids in by_category.items()}
        return cls(
            version,
            items,
            categories,
            available,
            {i: i for i in items},
            attrs.items,
            attrs.catalog_as_of,
            ids=list(items),
        )


@dataclass
class Snapshot:
    """What the fallback serves while Redis is away."""

    catalog: Catalog
    popular: dict[str, Ranked]
    taken_at: float


class VersionView:
    def __init__(self, redis: RedisConnection, settings: Settings) -> None:
        self.redis = redis
        self.version_cache_s = settings.version_cache_s
        self.fallback_refresh_s = settings.fallback_refresh_s
        self._lock = threading.Lock()
        self._version: str | None = None
        self._experiments: list[records.Experiment] = []
        self._secret: bytes | None = None
        self._checked = 0.0
        self._catalogs: dict[str, Catalog] = {}  # as published
        self._overlaid: dict[str, Catalog] = {}  # with the live catalog overlay applied
        self._snapshot: Snapshot | None = None
        self.merch = MerchState()

    def _pointer(self, reply: list) -> None:
        raw, experiments, seq = reply
        self._version = raw.decode() if raw else None
        stored = records.decode(experiments, list[records.Experiment]) or []
        self._experiments = versions.follow_active(stored, self._version)  # `current` arms serve the active one
        self._checked = time.monotonic()
        self.merch.seen_seq(seq)

    def active_version(self) -> str:
        now = time.monotonic()
        if self.merch.stale:
            self._control(self.refresh_merch)
        elif self._version is None or now - self._checked >= self.version_cache_s:
            self._control(self._read_pointer)
        if self._version is None:
            raise NoActiveVersion("no model version has been published yet")
        return self._version

    def _read_pointer(self) -> None:
        self._pointer(self.redis.round_trip(("MGET", keys.ACTIVE, keys.EXPERIMENTS, keys.MERCH_SEQ))[0])
        if self.merch.stale:
            self.refresh_merch()

    def _control(self, read) -> None:
        """Read the control keys (pointer, experiments, overlay, rules). On a cluster only their master
        can be away while the others serve: then the version, overlay and rules last read stay in use
        (nothing can change them meanwhile), and the read is tried again after `version_cache_s`."""
        try:
            read()
        except RedisDown:
            if not (self.redis.cluster and self._version is not None):
                raise
            self._checked = time.monotonic()

    def refresh_merch(self) -> None:
        """Reload the catalog overlay and the rules with the active pointer, in one round trip: a change to
        the overlay is never seen with an older version than the one that was active when it was read."""
        generation = self.merch.begin_load()
        pointer, changes, rules = self.redis.round_trip(
            ("MGET", keys.ACTIVE, keys.EXPERIMENTS, keys.MERCH_SEQ),
            ("HGETALL", keys.CATALOG_OVERLAY),
            ("GET", keys.RULES),
        )
        self._pointer(pointer)
        self.merch.finish_load(generation, pointer[2], _pairs(changes), rules)

    def catalog(self, version: str) -> Catalog:
        """The version's catalog with the live overlay applied (built once per overlay change)."""
        if self.merch.stale:
            self._control(self.refresh_merch)
        load_id = self.merch.load_id
        cat = self._overlaid.get(version)
        if cat is not None and cat.load_id == load_id:
            return cat
        base = self.published_catalog(version)
        cat = overlay(base, self.merch.changes, load_id)
        with self._lock:
            self._overlaid = {v: c for v, c in self._overlaid.items() if v in self._catalogs} | {version: cat}
        return cat

    def published_catalog(self, version: str) -> Catalog:
        cat = self._catalogs.get(version)
        if cat is None:
            blob, attributes = self.redis.round_trip(("MGET", keys.catalog(version), keys.item_attributes(version)))[0]
            if blob is None:
                # The version vanished (pruned between our pointer read and now): re-read the pointer.
                self._version = None
                raise NoActiveVersion(f"version {version} has no catalog")
            cat = Catalog.decode(version, blob, attributes)
            with self._lock:
                self._catalogs = {v: c for v, c in self._catalogs.items() if v == self._version} | {version: cat}
        return cat

    def cached_catalog(self, version: str) -> Catalog | None:
        """The version's catalog if this worker has decoded it (no Redis call)."""
        return self._overlaid.get(version) or self._catalogs.get(version)

    def current(self) -> Catalog:
        """The active version's catalog; refreshes the fallback snapshot when it is due."""
        if self.redis.marked_down:
            raise RedisDown("redis marked down")
        catalog = self.catalog(self.active_version())
        snap = self._snapshot
        if (
            snap is None
            or snap.catalog.version != catalog.version
            or (time.monotonic() - snap.taken_at > self.fallback_refresh_s)
        ):
            self._refresh_snapshot(catalog)
        elif snap.catalog is not catalog:  # a live catalog change: the fallback hides what the service hides
            self._snapshot = replace(snap, catalog=catalog)
        return catalog

    def _refresh_snapshot(self, catalog: Catalog) -> None:
        cats = ["", *sorted(catalog.categories)]
        try:
            blobs = self.redis.mget([keys.popular(catalog.version, c) for c in cats])
        except RedisDown:
            snap = self._snapshot
            if not (self.redis.cluster and snap is not None and snap.catalog.version == catalog.version):
                raise
            # The version's master is away on a cluster: keep the snapshot, try again in a second.
            self._snapshot = replace(snap, taken_at=time.monotonic() - self.fallback_refresh_s + 1)
            return
        popular = {c: codecs.decode_list(b) or EMPTY for c, b in zip(cats, blobs)}
        self._snapshot = Snapshot(catalog, popular, time.monotonic())

    def popular(self, version: str, category: str = "") -> Ranked:
        snap = self._snapshot
        if snap is not None and snap.catalog.version == version:
            return snap.popular.get(category, EMPTY)
        return codecs.decode_list(self.redis.get(keys.popular(version, category))) or EMPTY

    def experiments(self) -> list[records.Experiment]:
        """Experiments as last read with the active-version pointer (same cache period)."""
        try:
            self.active_version()
        except NoActiveVersion:
            pass  # experiments are stored apart from versions; none can run before a publish anyway
        return self._experiments

    def secret(self) -> bytes:
        """The MAC key of recommendation ids, shared by every instance through Redis."""
        if self._secret is None:
            self._secret = self.redis.call(lambda: versions.ensure_experiment_secret(self.redis.client))
        return self._secret

    def fallback(self, endpoint: str) -> Snapshot | None:
        """The snapshot to answer from while Redis is away (None before the first successful read)."""
        FALLBACKS.labels(endpoint=endpoint).inc()
        return self._snapshot

    def ready(self) -> tuple[bool, str]:
        try:
            self.redis.probe()
            version = self.redis.get(keys.ACTIVE)
        except RedisDown as exc:
            return False, str(exc) if self.redis.cluster else "redis unreachable"
        if not version:
            return False, "no active model version"
        try:
            catalog = self.catalog(version.decode())
        except RedisDown:
            return False, "redis unreachable"
        except NoActiveVersion as exc:
            return False, str(exc)
        if not catalog.items:  # every list would be empty: not a version to send traffic to
            return False, f"active version {catalog.version} has an empty catalog"
        return True, catalog.version
