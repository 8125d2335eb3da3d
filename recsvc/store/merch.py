"""Merchandising reads and writes: bought-together lists, the content index, trending and new-arrivals
lists (published, immutable per version: cached in-process), and the live catalog overlay and rules."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cachetools import LRUCache

from contract import codecs, content, keys, records
from recsvc.store.connection import RedisConnection
from recsvc.store.snapshot import EMPTY, Ranked, VersionView

ChangeBuilder = Callable[[dict[str, records.ItemChange | None]], dict[str, records.ItemChange]]


class Merch:
    def __init__(self, redis: RedisConnection, versions: VersionView) -> None:
        self.redis = redis
        self.versions = versions
        self._lock = threading.Lock()
        self._lists: LRUCache = LRUCache(maxsize=20_000)  # (version, key) -> BoughtTogether or Ranked
        self._content: dict[str, content.ContentIndex | None] = {}
        self._segments: LRUCache = LRUCache(maxsize=50_000)  # (version, user) -> segment ids

    # -- published lists ----------------------------------------------------------------------------------
    def bought_together_many(self, version: str, item_ids: list[str]) -> list[records.BoughtTogether | None]:
        keys_ = [keys.bought_together(version, i) for i in item_ids]
        return self._cached(version, keys_, lambda b: records.decode(b, records.BoughtTogether))

    def ranked(self, version: str, key: str) -> Ranked:
        """A published ranked list (trending, new arrivals) by its key."""
        return self._cached(version, [key], lambda b: codecs.decode_list(b) or EMPTY)[0]

    def _cached(self, version: str, names: list[str], decode: Callable) -> list:
        out: list = [None] * len(names)
        missing = []
        with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
            for k, name in enumerate(names):
                hit = self._lists.get(name, self)
                if hit is self:
                    missing.append(k)
                else:
                    out[k] = hit
        if missing:
            blobs = self.redis.mget([names[k] for k in missing])  # item lists: every slot
            with self._lock:
                for k, blob in zip(missing, blobs):
                    out[k] = self._lists[names[k]] = decode(blob) if blob is not None else decode(None)
        return out

    def user_segments(self, version: str, user_id: str) -> frozenset[str]:
        """The user's segment ids (RFM, cluster, lifecycle) in this version, for rules with an audience."""
        with self._lock:
            hit = self._segments.get((version, user_id))
        if hit is None:
            profile = records.decode(self.redis.get(keys.profile(version, user_id)), records.Profile)
            hit = frozenset(profile.segment_ids.values()) if profile is not None else frozenset()
            with self._lock:
                self._segments[(version, user_id)] = hit
        return hit

    def content_index(self, version: str) -> content.ContentIndex | None:
        """The version's TF-IDF index (decoded once per version; None when it was published without one)."""
        if version not in self._content:
            blob = self.redis.get(keys.content_index(version))
            index = content.decode_index(blob) if blob is not None else None
            with self._lock:
                self._content = {v: c for v, c in self._content.items() if v == self.versions._version} | {
                    version: index
                }
        return self._content[version]

    # -- live writes --------------------------------------------------------------------------------------
    def change_items(self, item_ids: list[str], build: ChangeBuilder) -> dict[str, records.ItemChange]:
        """Apply `build` (current overlay entries -> new ones) atomically: WATCH, read, MULTI, write, count."""
        key = keys.CATALOG_OVERLAY
        written: dict[str, records.ItemChange] = {}

        def apply(pipe) -> None:
            current = pipe.hmget(key, item_ids)
            new = build({i: records.decode(b, records.ItemChange) for i, b in zip(item_ids, current)})
            pipe.multi()
            if new:
                pipe.hset(key, mapping={i: records.encode(c) for i, c in new.items()})
            pipe.incr(keys.MERCH_SEQ)
            written.clear()
            written.update(new)

        self.redis.call(lambda: self.redis.client.transaction(apply, key))
        self.versions.merch.invalidate()  # this worker reads its own write at once
        return written

    def set_rules(self, blob: bytes) -> None:
        def build(pipe) -> None:
            pipe.set(keys.RULES, blob)
            pipe.incr(keys.MERCH_SEQ)

        self.redis.pipeline(build, transaction=True)
        self.versions.merch.invalidate()

    def version_rules(self, version: str) -> bytes | None:
        return self.redis.get(keys.version_rules(version))
