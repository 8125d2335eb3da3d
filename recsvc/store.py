"""Redis access for the service, with an explicit failure policy.

Every read goes through `Store`. When Redis fails, the store marks it down for `redis_retry_s` and
raises `RedisDown` straight away during that time (no request waits on a dead socket); the views
then answer from the in-process fallback: the popular lists of the last active version seen,
refreshed every `fallback_refresh_s`. Recovery is automatic: the next call after the retry delay
tries Redis again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import hiredis
import redis
from cachetools import LRUCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from recsvc import keys
from recsvc.live_cache import LiveCache
from recsvc.metrics import FALLBACKS, REDIS_ERRORS, USER_STATE_MEMORY, USER_STATE_REDIS
from recsvc.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
Ranked = tuple[list[str], Sequence[float]]  # ids, scores (a list or a float64 array)
EMPTY: Ranked = ([], [])
Live = tuple[list[tuple[str, str, float]], frozenset[str]]  # recent events, live purchases
Lists = tuple[Ranked | None, frozenset[str], str | None]  # cached list, purchased items, segment


def _live_commands(user_id: str) -> list[tuple]:
    return [("LRANGE", keys.recent(user_id), 0, keys.RECENT_LENGTH - 1), ("SMEMBERS", keys.live_bought(user_id))]


def _decode_live(recent: list[bytes], bought: list[bytes] | set[bytes]) -> Live:
    return [tuple(keys.decode_obj(r)) for r in recent], frozenset(b.decode() for b in bought)


class RedisDown(Exception):
    """Redis cannot be used right now; answer from the fallback."""


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

    @classmethod
    def decode(cls, version: str, blob: bytes) -> Catalog:
        items = keys.decode_catalog(blob)
        by_category: dict[str | None, set[str]] = {None: set()}
        for item_id, (_, category, available) in items.items():
            by_category.setdefault(category, set())
            if available:
                by_category[None].add(item_id)
                by_category[category].add(item_id)
        categories = frozenset(c for c in by_category if c is not None)
        available = {c: frozenset(ids) for c, ids in by_category.items()}
        return cls(version, items, categories, available, {i: i for i in items})


@dataclass
class Snapshot:
    """What the fallback serves while Redis is away."""

    catalog: Catalog
    popular: dict[str, Ranked]
    taken_at: float


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            # No client-side retries: a failed call goes to the fallback at once instead of waiting.
            retry=Retry(NoBackoff(), 0),
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self._similar_cache: LRUCache = LRUCache(maxsize=20_000)
        self._local_cache: LRUCache | None = (
            LRUCache(maxsize=settings.local_cache_users) if settings.local_cache_users > 0 else None
        )
        self._live_cache: LiveCache | None = (
            LiveCache(self.client, settings.live_cache_users) if settings.live_cache_users > 0 else None
        )
        self._version: str | None = None
        self._experiments: list[dict] = []
        self._secret: bytes | None = None
        self._version_checked = 0.0
        self._catalogs: dict[str, Catalog] = {}
        self._down_until = 0.0
        self._snapshot: Snapshot | None = None

    # -- failure policy -------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        if time.monotonic() < self._down_until:
            raise RedisDown("redis marked down")
        try:
            return fn()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.settings.redis_retry_s
            REDIS_ERRORS.inc()
            log.warning("redis unavailable, serving fallback: %s", exc.__class__.__name__)
            raise RedisDown(str(exc)) from exc

    def _commands(self, *commands: tuple) -> list:
        """Send commands in one round trip on a connection this thread keeps.

        The hot path skips the pool's and the pipeline object's per-call bookkeeping, and packs with
        hiredis directly (redis-py's wrapper around the same packer costs 4x as much).
        """
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.client.connection_pool.make_connection()
        try:
            conn.send_packed_command([b"".join([hiredis.pack_command(c) for c in commands])])
            return [conn.read_response() for _ in commands]
        except (redis.RedisError, OSError) as exc:
            conn.disconnect()
            raise redis.ConnectionError(str(exc)) from exc

    def _mget(self, *names: str) -> list[bytes | None]:
        return self._commands(("MGET", *names))[0]

    @property
    def redis_marked_down(self) -> bool:
        return time.monotonic() < self._down_until

    # -- versions and catalog ---------------------------------------------------------------------
    def active_version(self) -> str:
        now = time.monotonic()
        if self._version is None or now - self._version_checked >= self.settings.version_cache_s:
            raw, experiments = self._call(lambda: self._mget(keys.ACTIVE, keys.EXPERIMENTS))
            self._version = raw.decode() if raw else None
            self._experiments = keys.decode_obj(experiments) or []
            self._version_checked = now
        if self._version is None:
            raise NoActiveVersion("no model version has been published yet")
        return self._version

    def catalog(self, version: str) -> Catalog:
        cat = self._catalogs.get(version)
        if cat is None:
            blob = self._call(lambda: self.client.get(keys.catalog(version)))
            if blob is None:
                # The version vanished (pruned between our pointer read and now): re-read the pointer.
                self._version = None
                raise NoActiveVersion(f"version {version} has no catalog")
            cat = Catalog.decode(version, blob)
            with self._lock:
                self._catalogs = {v: c for v, c in self._catalogs.items() if v == self._version} | {version: cat}
        return cat

    def current(self) -> Catalog:
        """The active version's catalog; refreshes the fallback snapshot when it is due."""
        if self.redis_marked_down:
            raise RedisDown("redis marked down")
        catalog = self.catalog(self.active_version())
        snap = self._snapshot
        if (
            snap is None
            or snap.catalog.version != catalog.version
            or (time.monotonic() - snap.taken_at > self.settings.fallback_refresh_s)
        ):
            self._refresh_snapshot(catalog)
        return catalog

    def _refresh_snapshot(self, catalog: Catalog) -> None:
        cats = ["", *sorted(catalog.categories)]
        pipe = self.client.pipeline(transaction=False)
        for c in cats:
            pipe.get(keys.popular(catalog.version, c))
        blobs = self._call(pipe.execute)
        popular = {c: keys.decode_list(b) or EMPTY for c, b in zip(cats, blobs)}
        self._snapshot = Snapshot(catalog, popular, time.monotonic())

    # -- reads ----------------------------------------------------------------------------------------
    def user_state(self, version: str, user_id: str) -> tuple[Live, Lists]:
        """The user's live state (recent events newest first, live purchases) and cached lists (their
        list or None, purchased items, segment), in at most one round trip.

        Both come from per-worker caches when they can: a published version never changes, so decoded
        lists are kept in a bounded LRU keyed by (version, user) (`local_cache_users=0` turns it off);
        live state is kept while Redis reports no change (recsvc/live_cache.py). Whatever is missing is
        read in one pipelined round trip. The segment (the RFM segment id, else the lifecycle one) is
        only decoded for users without a list: their recommendations come from the segment's popular
        items.
        """
        lists = None
        if self._local_cache is not None:
            with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
                lists = self._local_cache.get((version, user_id))
        cache = self._live_cache
        live, token = cache.begin(user_id) if cache is not None else (None, None)
        if live is not None and lists is not None:
            USER_STATE_MEMORY.inc()
            return live, lists
        USER_STATE_REDIS.inc()
        commands = _live_commands(user_id) if live is None else []
        if lists is None:
            commands.append(
                ("MGET", keys.recs(version, user_id), keys.purchased(version, user_id), keys.profile(version, user_id))
            )
        try:
            replies = self._call(lambda: self._commands(*commands))
        except Exception:
            if cache is not None:
                cache.abandon(user_id, token)
            raise
        if live is None:
            live = _decode_live(replies[0], replies[1])
            if cache is not None:
                cache.finish(user_id, token, live)
        if lists is None:
            rec, bought, profile = replies[-1]
            segment = None
            if rec is None and profile is not None:
                ids = (keys.decode_obj(profile) or {}).get("segment_ids", {})
                segment = ids.get("rfm") or ids.get("lifecycle")
            lists = (self._compact(version, keys.decode_list(rec)), frozenset(keys.decode_ids(bought)), segment)
            if self._local_cache is not None:
                with self._lock:
                    self._local_cache[(version, user_id)] = lists
        return live, lists

    def _compact(self, version: str, ranked: Ranked | None) -> Ranked | None:
        """A list as the worker caches it: ids shared with the catalog's, scores in a float64 array
        (2 KB per user instead of 12 KB for 100 items; indexing still gives Python floats)."""
        if ranked is None:
            return None
        cat = self._catalogs.get(version)
        ids, scores = ranked
        if cat is not None:
            canonical = cat.canonical
            ids = [canonical.get(i, i) for i in ids]
        return ids, array("d", scores)

    def experiments(self) -> list[dict]:
        """Experiments as last read with the active-version pointer (same cache period)."""
        try:
            self.active_version()
        except NoActiveVersion:
            pass  # experiments are stored apart from versions; none can run before a publish anyway
        return self._experiments

    def secret(self) -> bytes:
        """The MAC key of recommendation ids, shared by every instance through Redis."""
        if self._secret is None:
            self._call(lambda: self.client.setnx(keys.EXPERIMENT_SECRET, os.urandom(32)))
            self._secret = self._call(lambda: self.client.get(keys.EXPERIMENT_SECRET))
        return self._secret

    def similar_many(self, version: str, item_ids: list[str]) -> list[Ranked | None]:
        """Similar-item lists of several items; immutable per version, so they are cached in-process."""
        out: list[Ranked | None] = [None] * len(item_ids)
        missing = []
        with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
            for k, item in enumerate(item_ids):
                hit = self._similar_cache.get((version, item))
                if hit is not None:
                    out[k] = hit
                else:
                    missing.append(k)
        if missing:
            blobs = self._call(lambda: self._mget(*[keys.similar(version, item_ids[k]) for k in missing]))
            with self._lock:
                for k, blob in zip(missing, blobs):
                    out[k] = keys.decode_list(blob) or ([], [])
                    self._similar_cache[(version, item_ids[k])] = out[k]
        return out

    def ingest(self, events: list[dict]) -> list[str]:
        """Append events to the stream, each user's live state and experiment counters, atomically per batch."""
        from recsvc.attribution import needs_impressions, plan

        experiments = (
            self.experiments() if any(e["event"] in ("impression", "click", "purchase") for e in events) else []
        )
        attribution: list[tuple] = []
        if experiments:
            users = sorted(needs_impressions(events))
            recent = (
                self._call(
                    lambda: self._commands(
                        *[("LRANGE", keys.impressions(u), 0, keys.IMPRESSIONS_LENGTH - 1) for u in users]
                    )
                )
                if users
                else []
            )
            impressions = {u: [tuple(keys.decode_obj(x)) for x in rows] for u, rows in zip(users, recent)}
            attribution = plan(events, experiments, self.secret(), impressions)
        pipe = self.client.pipeline(transaction=True)
        for e in events:
            pipe.xadd(keys.EVENTS_STREAM, {"e": keys.encode_obj(e)})
        for e in events:
            if e["event"] == "impression":
                continue  # shown is not seen: impressions do not re-rank
            pipe.lpush(keys.recent(e["user_id"]), keys.encode_obj([e["event"], e["item_id"], e["timestamp"]]))
            if e["event"] == "purchase":
                pipe.sadd(keys.live_bought(e["user_id"]), e["item_id"])
                pipe.expire(keys.live_bought(e["user_id"]), keys.LIVE_BOUGHT_TTL_S)
        for user in {e["user_id"] for e in events if e["event"] != "impression"}:
            pipe.ltrim(keys.recent(user), 0, keys.RECENT_LENGTH - 1)
            pipe.expire(keys.recent(user), keys.RECENT_TTL_S)
        for command in attribution:
            pipe.execute_command(*command)
        results = self._call(pipe.execute)
        if self._live_cache is not None:  # read-your-writes in this worker
            self._live_cache.forget({e["user_id"] for e in events})
        return [r.decode() if isinstance(r, bytes) else str(r) for r in results[: len(events)]]

    def similar(self, version: str, item_id: str) -> Ranked | None:
        return keys.decode_list(self._call(lambda: self.client.get(keys.similar(version, item_id))))

    def popular(self, version: str, category: str = "") -> Ranked:
        snap = self._snapshot
        if snap is not None and snap.catalog.version == version:
            return snap.popular.get(category, EMPTY)
        return keys.decode_list(self._call(lambda: self.client.get(keys.popular(version, category)))) or EMPTY

    def segment_popular(self, version: str, segment_id: str) -> Ranked | None:
        return keys.decode_list(self._call(lambda: self.client.get(keys.segment_popular(version, segment_id))))

    def profile(self, version: str, user_id: str) -> dict | None:
        return keys.decode_obj(self._call(lambda: self.client.get(keys.profile(version, user_id))))

    def segments(self, version: str) -> list[dict]:
        return keys.decode_obj(self._call(lambda: self.client.get(keys.segments(version)))) or []

    def segment_page(self, version: str, segment_id: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` member ids after `after` in lexicographic order, and whether more follow."""
        low = f"({after}" if after is not None else "-"
        key = keys.segment_members(version, segment_id)
        raw = self._call(lambda: self.client.zrangebylex(key, low, "+", start=0, num=limit + 1))
        ids = [r.decode() for r in raw]
        return ids[:limit], len(ids) > limit

    def user_offers(self, version: str, user_id: str) -> dict | None:
        return keys.decode_obj(self._call(lambda: self.client.get(keys.user_offers(version, user_id))))

    def campaigns(self, version: str) -> list[dict]:
        return keys.decode_obj(self._call(lambda: self.client.get(keys.campaigns(version)))) or []

    def audience_page(
        self, version: str, offer_id: str, group: str, after: str | None, limit: int
    ) -> tuple[list[tuple[str, dict]], bool]:
        """Up to `limit` (user id, data) of a group after `after`, in user-id order, and whether more follow."""
        low = f"({after}" if after is not None else "-"
        raw = self._call(
            lambda: self.client.zrangebylex(keys.audience(version, offer_id, group), low, "+", start=0, num=limit + 1)
        )
        users = [r.decode() for r in raw[:limit]]
        data = self._call(lambda: self.client.hmget(keys.audience_data(version, offer_id), users)) if users else []
        return [(u, keys.decode_obj(d) or {}) for u, d in zip(users, data)], len(raw) > limit

    def audience_group(self, version: str, offer_id: str, user_ids: list[str]) -> list[str | None]:
        """'treatment', 'holdout' or None per user, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for u in user_ids:
            pipe.zscore(keys.audience(version, offer_id, "treatment"), u)
            pipe.zscore(keys.audience(version, offer_id, "holdout"), u)
        flags = self._call(pipe.execute)
        return [
            "treatment" if t is not None else "holdout" if h is not None else None
            for t, h in zip(flags[::2], flags[1::2])
        ]

    def audience_sizes(self, version: str, offer_id: str) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for group in ("treatment", "holdout"):
            pipe.zcard(keys.audience(version, offer_id, group))
        t, h = self._call(pipe.execute)
        return {"treatment": t, "holdout": h}

    def merge_outcomes(self, offer_id: str, records: dict[str, dict]) -> None:
        """OR the flags and add the revenue of each user's outcome, atomically per batch."""
        key = keys.outcomes(offer_id)

        def apply(pipe: redis.client.Pipeline) -> None:
            current = pipe.hmget(key, list(records))
            merged = {}
            for (user, new), old_blob in zip(records.items(), current):
                old = keys.decode_obj(old_blob) or {}
                merged[user] = keys.encode_obj(
                    {
                        "group": new["group"],
                        "sent": bool(old.get("sent")) or new["sent"],
                        "redeemed": bool(old.get("redeemed")) or new["redeemed"],
                        "converted": bool(old.get("converted")) or new["converted"],
                        "revenue": float(old.get("revenue", 0.0)) + new["revenue"],
                    }
                )
            pipe.multi()
            pipe.hset(key, mapping=merged)

        self._call(lambda: self.client.transaction(apply, key))

    def outcomes(self, offer_id: str) -> list[dict]:
        raw = self._call(lambda: self.client.hgetall(keys.outcomes(offer_id)))
        return [keys.decode_obj(v) for v in raw.values()]

    def experiment_counts(self, experiment_id: str, variants: list[str]) -> dict[str, dict]:
        """Exposed users, impressions, clicks, converters and per-user revenue of each variant."""
        pipe = self.client.pipeline(transaction=False)
        for v in variants:
            pipe.scard(keys.experiment_counter(experiment_id, v, "users"))
            pipe.get(keys.experiment_counter(experiment_id, v, "impressions"))
            pipe.get(keys.experiment_counter(experiment_id, v, "clicks"))
            pipe.scard(keys.experiment_counter(experiment_id, v, "converters"))
            pipe.hvals(keys.experiment_counter(experiment_id, v, "revenue"))
        pipe.hgetall(keys.experiment_rejected(experiment_id))
        raw = self._call(pipe.execute)
        out = {}
        for k, v in enumerate(variants):
            users, imps, clicks, conv, revenue = raw[5 * k : 5 * k + 5]
            out[v] = {
                "users": int(users),
                "impressions": int(imps or 0),
                "clicks": int(clicks or 0),
                "conversions": int(conv),
                "revenue": [float(x) for x in revenue],
            }
        out["_rejected"] = {k.decode(): int(x) for k, x in raw[-1].items()}
        return out

    def distributions(self, version: str) -> dict:
        return keys.decode_obj(self._call(lambda: self.client.get(keys.distributions(version)))) or {}

    def version_history(self) -> list[dict]:
        """Complete versions, oldest first, each with its metadata (metrics decoded)."""
        raw = self._call(lambda: self.client.zrange(keys.VERSIONS, 0, -1))
        states = self._call(lambda: self.client.hgetall(keys.VERSION_STATE))
        done = [v.decode() for v in raw if states.get(v) == keys.COMPLETE.encode()]
        return [{"version": v} | self.meta(v) for v in done]

    def meta(self, version: str) -> dict:
        raw = self._call(lambda: self.client.hgetall(keys.meta(version)))
        meta = {k.decode(): v.decode() for k, v in raw.items()}
        for field_name in ("metrics", "config"):
            if field_name in meta:
                meta[field_name] = json.loads(meta[field_name])
        return meta

    def ready(self) -> tuple[bool, str]:
        try:
            self._down_until = 0.0  # a readiness probe always asks Redis itself
            self._call(self.client.ping)
            version = self._call(lambda: self.client.get(keys.ACTIVE))
        except RedisDown:
            return False, "redis unreachable"
        if not version:
            return False, "no active model version"
        return True, version.decode()

    # -- fallback -------------------------------------------------------------------------------------
    def fallback(self, endpoint: str) -> Snapshot | None:
        FALLBACKS.labels(endpoint=endpoint).inc()
        return self._snapshot
