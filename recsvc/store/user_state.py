"""A user's state as a request needs it: live events, purchases and consent, their cached list and segment.

Both halves come from per-worker caches when they can: a published version never changes, so decoded
lists are kept in a bounded LRU keyed by (version, user) (`local_cache_users=0` turns it off); live
state (with the consent statement) is kept while Redis reports no change (recsvc/store/live_cache.py).
Whatever is missing is read in one round trip.

An erasure is the one change to a published version: it removes the user's keys and makes Redis
invalidate their live state in every worker, so whenever live state is read again with lists from
the LRU, the same round trip asks how many of the lists' keys still exist; fewer than were cached
means the user was erased and the lists are read again.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache

from contract import codecs, keys, records
from contract.reasons import decode_reasons
from recsvc.settings import Settings
from recsvc.store.connection import RedisConnection
from recsvc.store.live_cache import ClusterLiveCache, LiveCache
from recsvc.store.snapshot import Ranked, VersionView
from recsvc.telemetry import USER_STATE_MEMORY, USER_STATE_REDIS

# recent events, live purchases, the consent statement (None: none made, both purposes allowed)
Live = tuple[list[tuple[str, str, float]], frozenset[str], records.Consent | None]
Lists = tuple[Ranked | None, frozenset[str], str | None]  # cached list, purchased items, segment


def _live_commands(user_id: str) -> list[tuple]:
    return [
        ("LRANGE", keys.recent(user_id), 0, keys.RECENT_LENGTH - 1),
        ("SMEMBERS", keys.live_bought(user_id)),
        ("GET", keys.consent(user_id)),
    ]


def _decode_live(recent: list[bytes], bought: list[bytes] | set[bytes], consent: bytes | None) -> Live:
    return (
        [records.decode(r, records.RecentEvent) for r in recent],
        frozenset(b.decode() for b in bought),
        records.decode(consent, records.Consent),
    )


def _list_keys(version: str, user_id: str) -> tuple[str, str, str]:
    """The user's published keys a request reads: their list (with their purchases), profile, reasons."""
    return keys.recs(version, user_id), keys.profile(version, user_id), keys.rec_reasons(version, user_id)


class PersonalList(tuple):
    """A published list as (ids, scores), with `reasons`: item id -> reason code of its first items
    (contract/reasons.py), as the ranking stage published them."""

    reasons: dict[str, str]

    def __new__(cls, ids: list[str], scores, reasons: dict[str, str]) -> PersonalList:
        obj = super().__new__(cls, (ids, scores))
        obj.reasons = reasons
        return obj


class UserStates:
    def __init__(
        self, redis: RedisConnection, versions: VersionView, settings: Settings, watch: dict | None = None
    ) -> None:
        self.redis = redis
        self.versions = versions
        self._lock = threading.Lock()
        self._lists: LRUCache | None = (
            LRUCache(maxsize=settings.local_cache_users) if settings.local_cache_users > 0 else None
        )
        self._segments: LRUCache | None = (
            LRUCache(maxsize=settings.local_cache_users) if settings.local_cache_users > 0 else None
        )
        self.live_cache: LiveCache | ClusterLiveCache | None = None
        if settings.live_cache_users > 0:
            self.live_cache = (
                ClusterLiveCache(redis.router, settings.live_cache_users, watch)
                if redis.cluster
                else LiveCache(redis.client, settings.live_cache_users, watch)
            )

    def get(self, version: str, user_id: str) -> tuple[Live, Lists]:
        """The user's live state (recent events newest first, live purchases) and cached lists (their
        list or None, purchased items, segment), in at most one round trip.

        The segment (the RFM segment id, else the lifecycle one) is only decoded for users without a
        list: their recommendations come from the segment's popular items.
        """
        cached = None  # (lists, how many of their keys existed)
        if self._lists is not None:
            with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
                cached = self._lists.get((version, user_id))
        lists = cached[0] if cached is not None else None
        cache = self.live_cache
        live, token = cache.begin(user_id) if cache is not None else (None, None)
        if live is not None and lists is not None:
            USER_STATE_MEMORY.inc()
            return live, lists
        USER_STATE_REDIS.inc()
        commands = _live_commands(user_id) if live is None else []
        commands.append(("MGET" if lists is None else "EXISTS", *_list_keys(version, user_id)))
        try:
            replies = self.redis.round_trip(*commands)
            if lists is not None and replies[-1] != cached[1]:  # erased since it was cached: read again
                lists = None
                replies[-1] = self.redis.round_trip(("MGET", *_list_keys(version, user_id)))[0]
        except Exception:
            if cache is not None:
                cache.abandon(user_id, token)
            raise
        if live is None:
            live = _decode_live(*replies[:3])
            if cache is not None:
                cache.finish(user_id, token, live)
        if lists is None:
            rec, profile, reason_codes = replies[-1]
            # Decoded once per user and worker: ids are the catalog's own strings, scores a float64 array
            # (about 2 KB per cached user for 100 items).
            ranked, bought = None, frozenset()
            if rec is not None:
                ids = self.versions.catalog(version).ids
                ranked, bought = codecs.decode_indexed(rec, ids), frozenset(codecs.decode_bought(rec, ids))
            segment = None
            decoded = records.decode(profile, records.Profile) if profile is not None else None
            if ranked is None and decoded is not None:
                segment = decoded.list_segment()
            if self._segments is not None:  # for business rules with an audience (recsvc/logic/rules.py)
                with self._lock:
                    self._segments[(version, user_id)] = (
                        frozenset(decoded.segment_ids.values()) if decoded is not None else frozenset()
                    )
            if ranked is not None:
                ranked = PersonalList(*ranked, dict(zip(ranked[0], decode_reasons(reason_codes))))
            lists = (ranked, bought, segment)
            if self._lists is not None:
                present = sum(b is not None for b in replies[-1])
                with self._lock:
                    self._lists[(version, user_id)] = (lists, present)
        return live, lists

    def segments(self, version: str, user_id: str) -> frozenset[str] | None:
        """The user's segment ids as read with their lists (None when this worker has not read them)."""
        if self._segments is None:
            return None
        with self._lock:
            return self._segments.get((version, user_id))

    def forget(self, user_ids) -> None:
        """Read-your-writes in this worker: drop the live state of users it just wrote events for."""
        if self.live_cache is not None:
            self.live_cache.forget(user_ids)

    def forget_lists(self, user_ids) -> None:
        """Drop cached lists of erased users in this worker (other workers notice at their next read)."""
        if self._lists is None:
            return
        gone = set(user_ids)
        with self._lock:
            for key in [k for k in self._lists.keys() if k[1] in gone]:
                del self._lists[key]
