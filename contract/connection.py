"""Where Redis is and how to reach it, for the service and the training job alike.

One URL names either one Redis or a Redis Cluster:

- `redis://[user:pw@]host:port/db`, `rediss://...` (TLS), `unix:///path.sock`: one Redis.
- `redis+cluster://[user:pw@]host:port[,host:port...][?options]`, `rediss+cluster://...` (TLS): a
  Redis Cluster; any one listed node that answers is enough to find the others. The query takes
  redis-py's URL options (`ssl_ca_certs`, `ssl_cert_reqs`, ...); a cluster has only database 0.

Clients never retry by themselves (redis-py 8 retries 10 times by default): the service answers from
its fallback instead of waiting, and the job fails with a clear error. The helpers below work on
both kinds of client, so the callers (publish, version management, the event export) stay the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import parse_url
from redis.retry import Retry

from contract import keys

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SINGLE_SCHEMES = ("redis", "rediss", "unix")
Client = redis.Redis | RedisCluster


class UrlError(ValueError):
    """A Redis URL that cannot be used; the message says what is wrong (never the password)."""


@dataclass(frozen=True)
class Target:
    """A parsed Redis URL: one node (`url`) or a cluster (`nodes` and redis-py options)."""

    url: str
    cluster: bool
    nodes: list[tuple[str, int]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold a password


def safe_url(url: str) -> str:
    """The URL without credentials, for messages: redis://user:secret@host -> redis://***@host."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}" if sep and "@" in rest else url


def parse(url: str) -> Target:
    """Check and split a Redis URL; raises UrlError naming the problem."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme not in SINGLE_SCHEMES + CLUSTER_SCHEMES:
        raise UrlError(
            "must look like redis://HOST:PORT/DB, rediss://..., unix:///PATH or redis+cluster://HOST:PORT,HOST:PORT"
        )
    if scheme in SINGLE_SCHEMES:
        parsed = urlparse(url)
        if scheme != "unix" and not parsed.hostname:
            raise UrlError("must look like redis://HOST:PORT/DB")
        try:
            parsed.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise UrlError("has an invalid port") from None
        return Target(url=url, cluster=False)
    rest, _, query = rest.partition("?")
    rest, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise UrlError("names a database other than 0: a Redis Cluster has only database 0")
    userinfo, _, hosts = rest.rpartition("@")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UrlError(f"cluster node must be HOST:PORT, got '{item.strip()}'")
        nodes.append((unquote(host.strip("[]")), int(port)))
    # Credentials and query options exactly as redis-py reads them for redis:// URLs.
    single = f"{'rediss' if scheme == 'rediss+cluster' else 'redis'}://{userinfo + '@' if userinfo else ''}x:1"
    try:
        options = parse_url(single + (f"?{query}" if query else ""))
    except ValueError as exc:
        raise UrlError(f"has a bad option: {exc}") from None
    for k in ("host", "port", "db", "connection_class"):
        options.pop(k, None)
    if scheme == "rediss+cluster":
        options["ssl"] = True
    return Target(url=url, cluster=True, nodes=nodes, options=options)


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def cluster_client(target: Target, timeout: float, connect_timeout: float | None = None) -> RedisCluster:
    """A RedisCluster for `target`; its constructor reads the slot map, so it raises when no node answers."""
    return RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
        retry=no_retry(),
        require_full_coverage=False,  # keep working (and refreshing) while some slots are unserved
        reinitialize_steps=1,  # a MOVED reloads the whole map at once
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout or timeout,
        **target.options,
    )


def connect(url: str, timeout: float, connect_timeout: float | None = None) -> Client:
    """A client for `url`: redis.Redis for one node, redis.RedisCluster for a cluster (which contacts the
    cluster at once: the service creates it lazily, recsvc/store/connection.py)."""
    target = parse(url)
    if target.cluster:
        return cluster_client(target, timeout, connect_timeout)
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout or timeout, retry=no_retry()
    )


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


def event_shards(client: Client) -> int:
    """How many live event streams this deployment has (keys.event_streams)."""
    return keys.EVENT_SHARDS if is_cluster(client) else 1


def primaries(client: Client) -> list[redis.Redis]:
    """A plain client per master (the one Redis itself when not a cluster)."""
    if not is_cluster(client):
        return [client]
    return [client.get_redis_connection(node) for node in client.get_primaries()]


def scan_all(client: Client, pattern: str, count: int = 5000) -> Iterator[bytes]:
    """SCAN MATCH on every master in turn (a failover in the middle raises: run the caller again)."""
    for node in primaries(client):
        yield from node.scan_iter(match=pattern, count=count)


def unlink_matching(client: Client, pattern: str, batch: int = 5000) -> int:
    """UNLINK every key matching `pattern`, node by node; returns how many went.

    On a cluster a multi-key UNLINK must stay in one slot, and a version's keys sit on every slot, so
    each master deletes the keys it holds one UNLINK per key, pipelined."""
    deleted = 0
    for node in primaries(client):
        found: list[bytes] = []
        for key in node.scan_iter(match=pattern, count=batch):
            found.append(key)
            if len(found) >= batch:
                deleted += _unlink(node, found, is_cluster(client))
                found = []
        if found:
            deleted += _unlink(node, found, is_cluster(client))
    return deleted


def _unlink(node: redis.Redis, found: list[bytes], per_key: bool) -> int:
    if not per_key:
        return node.unlink(*found)
    pipe = node.pipeline(transaction=False)
    for key in found:
        pipe.unlink(key)
    return sum(pipe.execute())
