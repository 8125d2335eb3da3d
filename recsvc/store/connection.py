"""The service's Redis connection and its failure policy, for one Redis or a Redis Cluster.

One Redis: when it fails, the connection is marked down for `redis_retry_s` and every call raises
`RedisDown` straight away during that time (no request waits on a dead socket); the views then answer
from the in-process fallback (recsvc/store/snapshot.py). Recovery is automatic: the next call after
the retry delay tries Redis again.

A Redis Cluster (`REDIS_URL=redis+cluster://...`): the same calls, routed by slot
(recsvc/store/cluster_routing.py). A failed master only sends the users whose slots it serves to the
fallback (its breaker, not the whole store, is marked down), and the store is only marked down as a
whole while no node at all answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import hiredis
import redis

from contract import connection
from recsvc.settings import Settings
from recsvc.store.cluster_routing import ClusterRouter, RouteError, group_slot
from recsvc.telemetry import REDIS_ERRORS

log = logging.getLogger(__name__)
T = TypeVar("T")
Command = tuple


class RedisDown(Exception):
    """Redis cannot be used right now; answer from the fallback."""


class RedisConnection:
    """One Redis."""

    cluster = False

    def __init__(self, settings: Settings) -> None:
        self.retry_s = settings.redis_retry_s
        self.client = connection.connect(settings.redis_url, timeout=settings.redis_timeout_s)
        self._local = threading.local()
        self._down_until = 0.0

    def call(self, fn: Callable[[], T]) -> T:
        """Run one Redis call under the failure policy."""
        if time.monotonic() < self._down_until:
            raise RedisDown("redis marked down")
        try:
            return fn()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.retry_s
            REDIS_ERRORS.inc()
            log.warning("redis unavailable, serving fallback: %s", exc.__class__.__name__)
            raise RedisDown(str(exc)) from exc

    def round_trip(self, *commands: Command) -> list:
        """Send commands in one round trip (under the failure policy); one reply per command. On a
        cluster their keys must share one slot."""
        return self.call(lambda: self._send(commands))

    def round_trip_groups(self, groups: Sequence[Sequence[Command]]) -> list[list]:
        """Groups of commands, each on one slot (a group may be a MULTI ... EXEC block); one Redis
        answers them all in one round trip. The replies of each group."""
        flat = [c for g in groups for c in g]
        replies = self.round_trip(*flat)
        out, start = [], 0
        for g in groups:
            out.append(replies[start : start + len(g)])
            start += len(g)
        return out

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """GET of keys on any slots, in one round trip."""
        return self.round_trip(("MGET", *keys))[0] if keys else []

    def _send(self, commands: Sequence[Command]) -> list:
        """On a connection this thread keeps: the hot path skips the pool's and the pipeline object's
        per-call bookkeeping, and packs with hiredis directly (redis-py's wrapper around the same packer
        costs 4x as much)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.client.connection_pool.make_connection()
        try:
            conn.send_packed_command([b"".join([hiredis.pack_command(c) for c in commands])])
            return [conn.read_response() for _ in commands]
        except (redis.RedisError, OSError) as exc:
            conn.disconnect()
            raise redis.ConnectionError(str(exc)) from exc

    def get(self, key: str) -> bytes | None:
        return self.round_trip(("GET", key))[0]

    def pipeline(self, build: Callable[[redis.client.Pipeline], None], transaction: bool = False) -> list:
        """Queue commands with `build` on a redis-py pipeline and execute it under the failure policy."""
        pipe = self.client.pipeline(transaction=transaction)
        build(pipe)
        return self.call(pipe.execute)

    @property
    def marked_down(self) -> bool:
        return time.monotonic() < self._down_until

    def probe(self) -> None:
        """Ask Redis itself, whatever the failure policy says (readiness probes): raises RedisDown."""
        self._down_until = 0.0
        self.call(self.client.ping)


class ClusterConnection(RedisConnection):
    """A Redis Cluster: the same calls, each group of commands sent to the master of its slot."""

    cluster = True

    def __init__(self, settings: Settings) -> None:
        self.retry_s = settings.redis_retry_s
        self.router = ClusterRouter(
            connection.parse(settings.redis_url), settings.redis_timeout_s, node_retry_s=settings.redis_retry_s
        )
        self._down_until = 0.0

    @property
    def client(self) -> redis.RedisCluster:
        """redis-py's RedisCluster for the cold paths, created on first use (raises RedisDown meanwhile)."""
        return self.call(lambda: self.router.client)

    def call(self, fn: Callable[[], T]) -> T:
        if time.monotonic() < self._down_until:
            raise RedisDown("no redis cluster node answers")
        try:
            return fn()
        except RouteError as exc:
            if not self.router.started:  # no node answered at all: try again after the retry delay
                self._down_until = time.monotonic() + self.retry_s
                REDIS_ERRORS.inc()
                log.warning("redis cluster unreachable, serving fallback: %s", exc)
            raise RedisDown(str(exc)) from exc
        except redis.RedisError as exc:  # a RedisCluster call on a cold path: this request only
            REDIS_ERRORS.inc()
            log.warning("redis cluster call failed, serving fallback: %s", exc.__class__.__name__)
            raise RedisDown(str(exc)) from exc

    def round_trip(self, *commands: Command) -> list:
        return self.call(lambda: self.router.round_trip(commands))

    def round_trip_groups(self, groups: Sequence[Sequence[Command]]) -> list[list]:
        return self.call(lambda: self.router.groups(groups))

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET per slot, every master's share in one write, all masters at once."""
        by_slot: dict[int, list[int]] = {}
        for k, key in enumerate(keys):
            by_slot.setdefault(group_slot([("GET", key)]), []).append(k)
        slots = list(by_slot.values())
        replies = self.round_trip_groups([[("MGET", *[keys[k] for k in idx])] for idx in slots])
        out: list[bytes | None] = [None] * len(keys)
        for idx, (values,) in zip(slots, replies):
            for k, value in zip(idx, values):
                out[k] = value
        return out

    def pipeline(self, build: Callable[[redis.client.Pipeline], None], transaction: bool = False) -> list:
        client = self.client
        return self.call(lambda: _execute(client.pipeline(transaction=transaction), build))

    def probe(self) -> None:
        """Every master answers and every slot has one; raises RedisDown naming what is wrong."""
        self._down_until = 0.0
        problems = self.call(self.router.probe)
        if problems:
            raise RedisDown("redis cluster degraded: " + ", ".join(problems))


def _execute(pipe, build: Callable) -> list:
    build(pipe)
    return pipe.execute()


def open_connection(settings: Settings) -> RedisConnection:
    """The connection `REDIS_URL` asks for: one Redis or a cluster (nothing is contacted yet)."""
    if connection.parse(settings.redis_url).cluster:
        return ClusterConnection(settings)
    return RedisConnection(settings)
