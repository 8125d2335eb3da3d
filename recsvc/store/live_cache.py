"""Per-worker cache of users' live state (recent events, live purchases), kept correct by Redis.

Redis client-side caching in broadcasting mode: this worker's listener connection (RESP3) asks for
`CLIENT TRACKING ON BCAST` on the live-state key prefixes, and Redis pushes it an invalidation for
every change of such a key (an event, a purchase, expiry, a flush). The listener drops that user from
the cache at once, so a user with no new events since the last read is answered without a Redis round
trip and one with new events is read again. Tracking lives and dies with the listener's own
connection: when it is lost nothing is cached until it is back, and the cache starts empty again.
(redis-py's own client-side cache needs Redis 7.4; Debian ships 7.0.) On a Redis Cluster,
`ClusterLiveCache` keeps one such listener per master.

The classic race (a write lands between our read and our storing its result) is closed by storing a
placeholder before the read: an invalidation removes it, and a result is only stored over its own
placeholder.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from cachetools import LRUCache
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from contract import keys

log = logging.getLogger(__name__)
PING_EVERY_S = 1.0
Value = tuple[list, frozenset]


def _prefix_args(extra: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    for prefix in (*keys.LIVE_PREFIXES, *extra):
        out += ["PREFIX", prefix]
    return out


def notify(watch: dict[str, Callable[[str | None], None]], key: str | None) -> None:
    """Call the watchers of `key`'s prefix (every watcher for None: what changed while nobody listened is unknown)."""
    for prefix, callback in watch.items():
        if key is None or key.startswith(prefix):
            callback(key)


def start_once_per_process(cache, reset: Callable[[], None], target: Callable[[], None], name: str) -> None:
    """Start `cache`'s background thread on first use in this process (gunicorn forks after import).

    `cache._pid` says which process started it; `reset` clears what a parent process left (under the lock).
    """
    if cache._pid != os.getpid():
        with cache._lock:
            if cache._pid != os.getpid():
                cache._pid = os.getpid()
                reset()
                threading.Thread(target=target, name=name, daemon=True).start()


class LiveCache:
    def __init__(
        self, client: redis.Redis, maxsize: int, watch: dict[str, Callable[[str | None], None]] | None = None
    ) -> None:
        """`watch`: further key prefixes the same listener tracks, each with a callback called with a changed
        key, or None when changes may have been missed (a flush, the listener reconnecting)."""
        self._client = client
        self._watch = dict(watch or {})
        self._cache: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._listening = False  # True while the tracking connection is up: only then is anything cached
        self._pid: int | None = None

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

    @property
    def listening(self) -> bool:
        return self._listening

    def ensure_listener(self) -> None:
        self._ensure_listener()

    def _notify(self, key: str | None) -> None:
        notify(self._watch, key)

    # -- invalidations ------------------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        start_once_per_process(self, self._reset, self._listen, "live-cache-invalidations")

    def _reset(self) -> None:
        self._listening = False
        self._cache.clear()

    def _up(self) -> None:
        with self._lock:
            self._cache.clear()
            self._listening = True
        self._notify(None)  # what changed while nobody listened is unknown

    def _down(self) -> None:
        with self._lock:
            self._listening = False
            self._cache.clear()

    def _invalidate(self, push: list) -> None:
        """A RESP3 push [b"invalidate", [key, ...] or None (a flush)]."""
        names = push[1] if len(push) > 1 else None
        if names is None:
            with self._lock:
                self._cache.clear()
            self._notify(None)
            return
        others = []
        with self._lock:
            for raw in names:
                name = raw.decode() if isinstance(raw, bytes) else raw
                user = keys.live_user(name)
                if user is not None:
                    self._cache.pop(user, None)
                elif self._watch:
                    others.append(name)
        for name in others:
            self._notify(name)

    def _listen(self) -> None:
        delay = 0.1
        pool = self._client.connection_pool
        while True:
            conn = pool.connection_class(**(pool.connection_kwargs | {"protocol": 3}))
            try:
                conn.connect()
                conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", *_prefix_args(tuple(self._watch)))
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


class _Placeholder:
    """Stored before a read (the race in the module docstring); names the master whose LRU holds it."""

    __slots__ = ("node",)

    def __init__(self, node: str) -> None:
        self.node = node


class ClusterLiveCache:
    """The same cache on a Redis Cluster, kept correct by one tracking connection per master.

    `CLIENT TRACKING ON BCAST` is per node: a master reports only the keys written on it, to the
    connections made to it. So this cache keeps one RESP3 listener per master and one LRU per master,
    and a user is only cached while the listener of the master serving their slot is up (when one is
    lost, only that master's users are read from Redis). A supervisor re-reads CLUSTER SLOTS every
    `topology_every_s`: when the map changes (a failover, a resharding) it follows new masters, stops
    listening to nodes that are no longer masters, and empties every LRU, since a slot may have moved.
    An invalidation from any node drops the user from every LRU. The listener's dead-connection
    detection (2 x `ping_every_s`) stays below `cluster-node-timeout`, so a frozen master's listener is
    given up before its replica can take writes.
    """

    def __init__(
        self,
        router,
        maxsize: int,
        watch: dict[str, Callable[[str | None], None]] | None = None,
        ping_every_s: float = 0.5,
        topology_every_s: float = 0.5,
    ) -> None:
        """`watch` as for LiveCache: the prefixes are tracked on every master, and a listener coming up
        (changes may have been missed) calls every callback with None."""
        self._router = router  # recsvc.store.cluster_routing.ClusterRouter: topology and connection settings
        self._watch = dict(watch or {})
        self._per_node = max(1, maxsize // 3)
        self.ping_every_s = ping_every_s
        self.topology_every_s = topology_every_s
        self._lock = threading.Lock()
        self._owner: list[str] | None = None  # slot -> master name, None until the first CLUSTER SLOTS
        self._masters: set[str] = set()
        self._up: set[str] = set()  # masters whose tracking connection is up
        self._caches: dict[str, LRUCache] = {}
        self._stops: dict[str, threading.Event] = {}
        self._pid: int | None = None
        self._closed = threading.Event()

    # -- reads (the LiveCache protocol) ----------------------------------------------------------------
    def _node_of(self, user_id: str) -> str | None:
        owner = self._owner
        return None if owner is None else owner[key_slot(keys.user_tag(user_id).encode())]

    def serving(self, user_id: str) -> bool:
        """Whether this user can be cached now (their master's listener is up)."""
        node = self._node_of(user_id)
        return node is not None and node in self._up

    def begin(self, user_id: str) -> tuple[Value | None, object | None]:
        self._ensure_started()
        with self._lock:
            node = self._node_of(user_id)
            if node is None or node not in self._up:
                return None, None
            cache = self._caches[node]
            hit = cache.get(user_id)
            if isinstance(hit, tuple):
                return hit, None
            token = _Placeholder(node)
            cache[user_id] = token
            return None, token

    def finish(self, user_id: str, token: object | None, value: Value) -> None:
        if token is None:
            return
        with self._lock:
            cache = self._caches.get(token.node)
            if cache is not None and cache.get(user_id) is token:
                cache[user_id] = value

    def abandon(self, user_id: str, token: object | None) -> None:
        if token is None:
            return
        with self._lock:
            cache = self._caches.get(token.node)
            if cache is not None and cache.get(user_id) is token:
                del cache[user_id]

    def forget(self, user_ids) -> None:
        with self._lock:
            for user in user_ids:
                for cache in self._caches.values():
                    cache.pop(user, None)

    def close(self) -> None:
        self._closed.set()
        for stop in self._stops.values():
            stop.set()

    @property
    def listening(self) -> bool:
        """Every master's listener is up (the watched prefixes' invalidations all arrive)."""
        return bool(self._masters) and self._up == self._masters

    def ensure_listener(self) -> None:
        self._ensure_started()

    def _notify(self, key: str | None) -> None:
        notify(self._watch, key)

    # -- topology --------------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        start_once_per_process(self, self._reset, self._supervise, "live-cache-topology")

    def _reset(self) -> None:
        self._owner, self._masters, self._up, self._caches, self._stops = None, set(), set(), {}, {}

    def _connection(self, name: str, **extra) -> redis.Connection:
        """A connection to node `name` with the cluster's settings (credentials, TLS), no retries."""
        pools = [n.redis_connection.connection_pool for n in self._router.masters() if n.redis_connection]
        host, port = name.rsplit(":", 1)
        if not pools:
            return redis.Connection(host=host, port=int(port), **extra)
        kwargs = dict(pools[0].connection_kwargs, host=host, port=int(port), retry=Retry(NoBackoff(), 0))
        return pools[0].connection_class(**(kwargs | extra))

    def _read_slots(self) -> tuple[list[str], set[str]] | None:
        """CLUSTER SLOTS from the first node that answers: masters whose listener is up first, the
        listed nodes next, a master that just went down last (a frozen one would cost a timeout)."""
        down = sorted(self._masters - self._up)
        listed = [f"{h}:{p}" for h, p in self._router.target.nodes]
        names = [n for n in dict.fromkeys([*sorted(self._masters & self._up), *listed]) if n not in down] + down
        for name in names:
            conn = self._connection(name, socket_timeout=0.5, socket_connect_timeout=0.5)
            try:
                conn.connect()
                conn.send_command("CLUSTER", "SLOTS")
                slots = conn.read_response()
            except (redis.RedisError, OSError):
                continue
            finally:
                conn.disconnect()
            if not slots:
                continue
            owner = [""] * 16384
            masters = set()
            host = name.rsplit(":", 1)[0]
            for start, end, master, *_ in slots:
                m_host = master[0].decode() if isinstance(master[0], bytes) else master[0]
                node = f"{m_host or host}:{int(master[1])}"
                masters.add(node)
                owner[int(start) : int(end) + 1] = [node] * (int(end) - int(start) + 1)
            return owner, masters
        return None

    def _supervise(self) -> None:
        while not self._closed.is_set():
            try:
                self._router.client  # noqa: B018 - the connection settings come from its node pools
                found = self._read_slots()
            except (redis.RedisError, OSError):
                found = None
            if found is not None and found[0] != self._owner:
                self._follow(*found)
            self._closed.wait(self.topology_every_s)

    def _follow(self, owner: list[str], masters: set[str]) -> None:
        with self._lock:
            self._owner = owner
            for cache in self._caches.values():
                cache.clear()  # a slot may have moved: nothing cached survives a map change
            for gone in self._masters - masters:
                self._up.discard(gone)
                self._caches.pop(gone, None)
                self._stops.pop(gone).set()
            new = masters - self._masters
            self._masters = masters
            for name in new:
                self._caches[name] = LRUCache(maxsize=self._per_node)
                self._stops[name] = threading.Event()
        for name in new:
            threading.Thread(
                target=self._listen, args=(name, self._stops[name]), name=f"tracking-{name}", daemon=True
            ).start()

    # -- one listener per master -------------------------------------------------------------------------
    def _set_up(self, name: str, up: bool) -> None:
        with self._lock:
            cache = self._caches.get(name)
            if cache is not None:
                cache.clear()
            if up and name in self._masters:
                self._up.add(name)
            else:
                self._up.discard(name)
        if up:
            self._notify(None)  # what changed on this node while nobody listened is unknown

    def _invalidate(self, name: str, push: list) -> None:
        """A RESP3 push [b"invalidate", [key, ...] or None (a flush)] from master `name`."""
        names = push[1] if len(push) > 1 else None
        if names is None:
            with self._lock:
                cache = self._caches.get(name)
                if cache is not None:
                    cache.clear()
            self._notify(None)
            return
        others = []
        with self._lock:
            for raw in names:
                key = raw.decode() if isinstance(raw, bytes) else raw
                user = keys.live_user(key)
                if user is not None:
                    for cache in self._caches.values():
                        cache.pop(user, None)
                elif self._watch:
                    others.append(key)
        for key in others:
            self._notify(key)

    def _listen(self, name: str, stop: threading.Event) -> None:
        delay = 0.05
        was_up = False
        while not stop.is_set():
            conn = self._connection(name, protocol=3, socket_timeout=1.0, socket_connect_timeout=0.5)
            try:
                conn.connect()
                conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", *_prefix_args(tuple(self._watch)))
                conn.read_response()
                conn._parser.set_invalidation_push_handler(lambda push: self._invalidate(name, push))
                self._set_up(name, True)
                was_up, delay = True, 0.05
                _pump(conn, self.ping_every_s, stop)
            except (redis.RedisError, OSError) as exc:
                if was_up:
                    log.info("live cache: tracking on %s lost (%s); its users are read from Redis", name, exc)
            finally:
                if was_up:
                    self._set_up(name, False)
                    was_up = False
                conn.disconnect()
            stop.wait(delay)
            delay = min(delay * 2, 1.0)


def _pump(conn, ping_every_s: float, stop: threading.Event | None = None) -> None:
    """Apply invalidations (the parser calls the push handler) until the connection fails, stops answering
    pings for 2-3 periods, or `stop` is set."""
    last_heard = time.monotonic()
    pinged = False
    while stop is None or not stop.is_set():
        if conn.can_read(timeout=ping_every_s):
            conn.read_response(push_request=True)
            last_heard = time.monotonic()
            pinged = False
        elif not pinged:
            conn.send_command("PING")
            pinged = True
        elif time.monotonic() - last_heard > 2 * ping_every_s:
            raise redis.TimeoutError("no answer to ping")
