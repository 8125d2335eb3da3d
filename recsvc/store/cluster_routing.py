"""The service's hot path on a Redis Cluster: same-slot commands in one round trip to the slot's master.

redis-py's RedisCluster knows the topology (slot map, nodes) and serves the cold paths; what a request
does on every call is written here, because RedisCluster's own calls cost 2-4x a hand-packed round
trip, sleep 0.25 s on every CLUSTERDOWN and refresh the slot map synchronously inside the failing call
(measured in docs/cluster.md):

- a group of commands on one slot is packed with hiredis and written once on a connection this thread
  keeps to the slot's master; several groups on several nodes are all written before any reply is read;
- MOVED patches the map and the group is asked again of the new owner once; ASK is followed with ASKING
  for read groups; CLUSTERDOWN, TRYAGAIN, an uncovered slot or a broken connection raise `RouteError`
  at once and a background thread reloads the slot map (at most every 50 ms);
- each master has a breaker: after a failure its slots fail in microseconds for `node_retry_s`, so a
  dead master costs its own users a fallback answer, never a timeout, and the others are not touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import hiredis
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)

from contract.connection import Target, cluster_client
from recsvc.telemetry import REDIS_ERRORS

log = logging.getLogger(__name__)
Command = tuple
_UNAVAILABLE = (ClusterDownError, TryAgainError)


class RouteError(redis.ConnectionError):
    """The master of a slot cannot answer now (down, failing over, slot moving); the map is being
    reloaded in the background. The caller answers from its fallback."""


def group_slot(group: Sequence[Command]) -> int:
    """The slot of a group: that of its first command's key (its first argument; MULTI, EXEC and ASKING
    have none)."""
    for command in group:
        if command[0] not in ("MULTI", "EXEC", "ASKING") and len(command) > 1:
            key = command[1]
            return key_slot(key if isinstance(key, bytes) else str(key).encode())
    raise ValueError("a group needs at least one command with a key")


class ClusterRouter:
    def __init__(self, target: Target, timeout: float, node_retry_s: float, refresh_every_s: float = 0.05) -> None:
        self.target = target
        self.timeout = timeout
        self.node_retry_s = node_retry_s
        self.refresh_every_s = refresh_every_s
        self._client: RedisCluster | None = None
        self._client_lock = threading.Lock()
        self._local = threading.local()
        self._down_until: dict[str, float] = {}  # node name -> monotonic time before which it is not asked
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        self._last_refresh = 0.0
        self._last_failed: str | None = None

    # -- topology ----------------------------------------------------------------------------------------
    @property
    def client(self) -> RedisCluster:
        """Created on first use: RedisCluster's constructor reads the slot map, and the service must start
        (and answer from its fallback) while the cluster is away."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = cluster_client(self.target, self.timeout)
                    except (RedisClusterException, redis.RedisError, OSError) as exc:
                        raise RouteError(f"no cluster node answers ({exc.__class__.__name__})") from exc
                client = self._client
        return client

    @property
    def started(self) -> bool:
        return self._client is not None

    def masters(self) -> list[ClusterNode]:
        return self.client.nodes_manager.get_nodes_by_server_type("primary")

    def node_down(self, name: str) -> bool:
        until = self._down_until.get(name)
        return until is not None and time.monotonic() < until

    def refresh_soon(self) -> None:
        """Reload the slot map in a background thread (one at a time, rate-limited)."""
        now = time.monotonic()
        with self._refresh_lock:
            if self._refreshing or now - self._last_refresh < self.refresh_every_s:
                return
            self._refreshing = True
            self._last_refresh = now
        threading.Thread(target=self._refresh, name="cluster-slot-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            nodes = self.client.nodes_manager
            nodes.initialize(last_failed_node_name=self._last_failed)  # ask the node that failed last
            masters = {n.name for n in nodes.get_nodes_by_server_type("primary")}
            for name in list(self._down_until):
                if name not in masters:  # replaced by its replica: its slots go there now
                    self._down_until.pop(name, None)
        except Exception as exc:  # noqa: BLE001 - the next failing call asks for another refresh
            log.info("cluster slot map refresh failed: %s", exc.__class__.__name__)
        finally:
            with self._refresh_lock:
                self._refreshing = False
                self._last_refresh = time.monotonic()

    # -- connections ---------------------------------------------------------------------------------------
    def _conn(self, node: ClusterNode) -> redis.Connection:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(node.name)
        if conn is None:
            pool = (node.redis_connection or self.client.get_redis_connection(node)).connection_pool
            conn = conns[node.name] = pool.connection_class(**pool.connection_kwargs)
        return conn

    def _fail(self, node: ClusterNode, exc: BaseException, what: str) -> RouteError:
        conn = getattr(self._local, "conns", {}).pop(node.name, None)
        if conn is not None:
            conn.disconnect()
        if not self.node_down(node.name):
            REDIS_ERRORS.inc()
            log.warning("redis cluster node %s unavailable (%s), its users get the fallback", node.name, what)
        self._down_until[node.name] = time.monotonic() + self.node_retry_s
        self._last_failed = node.name
        self.refresh_soon()
        return RouteError(f"{what} on {node.name}: {exc.__class__.__name__}")

    def _node_for_slot(self, slot: int) -> ClusterNode:
        # The slot map as redis-py keeps it, read without its lock and deprecation wrapper (a dict read is
        # atomic; a refresh swaps whole entries): the slot's master is the first node listed.
        nodes = self.client.nodes_manager.slots_cache.get(slot)
        if not nodes:
            self.refresh_soon()
            raise RouteError(f"slot {slot} is not served")
        node = nodes[0]
        until = self._down_until.get(node.name)
        if until is not None:
            if time.monotonic() < until:
                self.refresh_soon()  # keep looking for the replica that takes over
                raise RouteError(f"{node.name} is marked down")
            self._down_until.pop(node.name, None)
        return node

    # -- round trips ---------------------------------------------------------------------------------------
    def round_trip(self, commands: Sequence[Command]) -> list:
        """Commands on keys of one slot, in one round trip to its master; one reply per command."""
        return self.groups([commands])[0]

    def groups(self, groups: Sequence[Sequence[Command]]) -> list[list]:
        """Several same-slot groups (each may be a MULTI ... EXEC block): one packed write per master, all
        written before any reply is read; the replies of each group."""
        by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        for k, group in enumerate(groups):
            node = self._node_for_slot(group_slot(group))
            by_node.setdefault(node.name, (node, []))[1].append(k)
        sent: list[tuple[ClusterNode, list[int]]] = []
        for node, idx in by_node.values():
            conn = self._conn(node)
            try:
                conn.send_packed_command([b"".join([hiredis.pack_command(c) for k in idx for c in groups[k]])])
            except (redis.RedisError, OSError) as exc:
                for other, _ in sent:  # their replies will never be read: those connections are spoiled
                    self._drop(other)
                raise self._fail(node, exc, "connection error") from exc
            sent.append((node, idx))
        out: list[list] = [[] for _ in groups]
        failure: RouteError | None = None
        for node, idx in sent:
            if failure is not None:
                self._drop(node)
                continue
            conn = self._conn(node)
            try:
                for k in idx:
                    out[k] = [self._reply(conn) for _ in groups[k]]
            except (redis.RedisError, OSError) as exc:
                failure = self._fail(node, exc, "connection error")
                continue
            for k in idx:
                out[k] = self._settle(node, groups[k], out[k])
        if failure is not None:
            raise failure
        return out

    @staticmethod
    def _reply(conn: redis.Connection):
        try:
            return conn.read_response()
        except ResponseError as exc:  # an error reply: the connection stays usable
            return exc

    def _drop(self, node: ClusterNode) -> None:
        conn = getattr(self._local, "conns", {}).pop(node.name, None)
        if conn is not None:
            conn.disconnect()

    def _send_read(self, node: ClusterNode, commands: Sequence[Command]) -> list:
        conn = self._conn(node)
        try:
            conn.send_packed_command([b"".join([hiredis.pack_command(c) for c in commands])])
            return [self._reply(conn) for _ in commands]
        except (redis.RedisError, OSError) as exc:
            raise self._fail(node, exc, "connection error") from exc

    def _settle(self, node: ClusterNode, commands: Sequence[Command], replies: list) -> list:
        """Follow MOVED / ASK, turn 'cannot serve now' into RouteError, raise any other error reply."""
        errors = [r for r in replies if isinstance(r, ResponseError)]
        if not errors:
            return replies
        moved = next((e for e in errors if isinstance(e, MovedError)), None)
        if moved is not None:  # the slot has a new owner (a failover or a resharding): ask it once
            self.client.nodes_manager.move_slot(moved)
            self.refresh_soon()
            target = self._node_for_slot(moved.slot_id)
            again = self._send_read(target, commands)
            if any(isinstance(r, (MovedError, AskError, *_UNAVAILABLE)) for r in again):
                raise RouteError(f"slot {moved.slot_id} is still moving")
            return self._raise_first(again)
        asks = [k for k, r in enumerate(replies) if isinstance(r, AskError)]
        if asks and commands[0][0] != "MULTI":  # the slot is migrating: these keys are on the target already
            target = self.client.nodes_manager.get_node(replies[asks[0]].host, replies[asks[0]].port)
            if target is None:
                self.refresh_soon()
                raise RouteError("ASK to an unknown node")
            resend: list[Command] = []
            for k in asks:
                resend += [("ASKING",), commands[k]]
            for k, r in zip(asks, self._send_read(target, resend)[1::2]):
                replies[k] = r
            if any(isinstance(r, (AskError, *_UNAVAILABLE)) for r in replies):
                raise RouteError("slot migration in progress")
            return self._raise_first(replies)
        if any(isinstance(e, (AskError, *_UNAVAILABLE)) for e in errors):
            # The node answers but cannot serve now: a failover is finishing, the map is about to change.
            self.refresh_soon()
            REDIS_ERRORS.inc()
            raise RouteError(f"{node.name}: {errors[0]}")
        return self._raise_first(replies)

    @staticmethod
    def _raise_first(replies: list) -> list:
        for r in replies:
            if isinstance(r, ResponseError):
                raise r  # WRONGTYPE and the like: a bug, not an outage
        return replies

    def probe(self) -> list[str]:
        """Ask every master (PING) and check that every slot has one; what is wrong ([] when all is well)."""
        problems = []
        nodes = self.client.nodes_manager
        for node in self.masters():
            if self.node_down(node.name):
                problems.append(f"{node.name} unreachable")
                continue
            try:
                self._send_read(node, [("PING",)])
            except RouteError:
                problems.append(f"{node.name} unreachable")
        uncovered = 16384 - sum(1 for nodes_of_slot in nodes.slots_cache.values() if nodes_of_slot)
        if uncovered:
            problems.append(f"{uncovered} slots without a master")
            self.refresh_soon()
        return problems

    def close(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.disconnect()
        if self._client is not None:
            self._client.close()
