"""Per-worker cache of users' live state (recent events, live purchases), kept correct by Redis.

Redis client-side caching in broadcasting mode: this worker's listener connection (RESP3) asks for
`CLIENT TRACKING ON BCAST` on the live-state key prefixes, and Redis pushes it an invalidation for
every change of such a key (an event, a purchase, expiry, a flush). The listener drops that user from
the cache at once, so a user with no new events since the last read is answered without a Redis round
trip and one with new events is read again. Tracking lives and dies with the listener's own
connection: when it is lost nothing is cached until it is back, and the cache starts empty again.
(redis-py's own client-side cache needs Redis 7.4; Debian ships 7.0.)

The classic race (a write lands between our read and our storing its result) is closed by storing a
placeholder before the read: an invalidation removes it, and a result is only stored over its own
placeholder.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis
from cachetools import LRUCache

from recsvc import keys

log = logging.getLogger(__name__)
PING_EVERY_S = 1.0
Value = tuple[list, frozenset]


def _prefix_args() -> list[str]:
    out: list[str] = []
    for prefix in keys.LIVE_PREFIXES:
        out += ["PREFIX", prefix]
    return out


class LiveCache:
    def __init__(self, client: redis.Redis, maxsize: int) -> None:
        self._client = client
        self._cache: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._listening = False  # True while the tracking connection is up: only then is anything cached
        self._pid: int | None = None
        self.hits = 0

    # -- reads ---------------------------------------------------------------------------------------
    def begin(self, user_id: str) -> tuple[Value | None, object | None]:
        """(the cached value, None) on a hit; else (None, a token to `finish` or `abandon` after reading
        Redis; None when nothing can be cached now). The caller reads Redis itself, so the read can share
        a round trip with others (Store.user_state)."""
        self._ensure_listener()
        with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
            if not self._listening:  # invalidations would be missed: no caching
                return None, None
            hit = self._cache.get(user_id)
            if isinstance(hit, tuple):
                self.hits += 1
                return hit, None
            token = object()
            self._cache[user_id] = token
            return None, token

    def finish(self, user_id: str, token: object | None, value: Value) -> None:
        """Keep what was read, unless an invalidation, a flush or the listener going down or up removed
        the placeholder meanwhile."""
        if token is None:
            return
        with self._lock:
            if self._cache.get(user_id) is token:
                self._cache[user_id] = value

    def abandon(self, user_id: str, token: object | None) -> None:
        """The read failed: drop the placeholder."""
        if token is None:
            return
        with self._lock:
            if self._cache.get(user_id) is token:
                del self._cache[user_id]

    def forget(self, user_ids) -> None:
        """Drop users this worker just wrote for: its next read must not wait for Redis's invalidation."""
        with self._lock:
            for user in user_ids:
                self._cache.pop(user, None)

    # -- invalidations ------------------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        if self._pid != os.getpid():  # first use in this process (gunicorn forks after import)
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._listening = False
                    self._cache.clear()
                    threading.Thread(target=self._listen, name="live-cache-invalidations", daemon=True).start()

    def _up(self) -> None:
        with self._lock:
            self._cache.clear()
            self._listening = True

    def _down(self) -> None:
        with self._lock:
            self._listening = False
            self._cache.clear()

    def _invalidate(self, push: list) -> None:
        """A RESP3 push [b"invalidate", [key, ...] or None (a flush)]."""
        names = push[1] if len(push) > 1 else None
        with self._lock:
            if names is None:
                self._cache.clear()
                return
            for raw in names:
                user = keys.live_user(raw.decode() if isinstance(raw, bytes) else raw)
                if user is not None:
                    self._cache.pop(user, None)

    def _listen(self) -> None:
        delay = 0.1
        pool = self._client.connection_pool
        while True:
            conn = pool.connection_class(**(pool.connection_kwargs | {"protocol": 3}))
            try:
                conn.connect()
                conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", *_prefix_args())
                conn.read_response()
                conn._parser.set_invalidation_push_handler(self._invalidate)  # as redis-py's own cache does
                self._up()
                delay = 0.1
                self._pump(conn)
            except (redis.RedisError, OSError) as exc:
                if self._listening:  # once per outage, not at every retry
                    log.info("live cache: invalidation listener down (%s); reads go to Redis", exc.__class__.__name__)
            finally:
                self._down()
                conn.disconnect()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _pump(self, conn) -> None:
        """Apply invalidations (the parser calls _invalidate) until the connection fails or stops answering."""
        last_heard = time.monotonic()
        pinged = False
        while True:
            if conn.can_read(timeout=PING_EVERY_S):
                conn.read_response(push_request=True)
                last_heard = time.monotonic()
                pinged = False
            elif not pinged:
                conn.send_command("PING")
                pinged = True
            elif time.monotonic() - last_heard > 3 * PING_EVERY_S:
                raise redis.TimeoutError("no answer to ping")
