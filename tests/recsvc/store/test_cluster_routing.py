"""The service's connection to a real 3 x 3 Redis Cluster: one round trip per slot, MOVED, breakers."""

from __future__ import annotations

import time

import pytest
from redis.crc import key_slot

from contract import keys
from recsvc.settings import Settings
from recsvc.store import RedisDown, Store
from recsvc.store.connection import ClusterConnection, open_connection


def _connection(url: str, **kw) -> ClusterConnection:
    conn = open_connection(Settings(redis_url=url, **kw))
    assert isinstance(conn, ClusterConnection)
    return conn


def _user_per_master(conn: ClusterConnection) -> dict[str, str]:
    out: dict[str, str] = {}
    nodes = conn.router.client.nodes_manager
    for u in range(300):
        out.setdefault(nodes.get_node_from_slot(key_slot(keys.recent(str(u)).encode())).name, str(u))
    return out


def test_a_users_keys_are_read_in_one_round_trip_on_their_master(redis_cluster) -> None:
    conn = _connection(redis_cluster.url)
    v = "rt-v1"
    for user in ("1", "2", "3", "4", "a}b"):
        conn.round_trip_groups(
            [
                [
                    ("MULTI",),
                    ("SET", keys.recs(v, user), f"rec{user}"),
                    ("SET", keys.profile(v, user), f"profile{user}"),
                    ("DEL", keys.recent(user), keys.live_bought(user)),
                    ("RPUSH", keys.recent(user), "e1", "e2"),
                    ("SADD", keys.live_bought(user), "i1"),
                    ("EXEC",),
                ]
            ]
        )
    for user in ("1", "2", "3", "4", "a}b"):
        recent, bought, (rec, prof, offers) = conn.round_trip(
            ("LRANGE", keys.recent(user), 0, -1),
            ("SMEMBERS", keys.live_bought(user)),
            ("MGET", keys.recs(v, user), keys.profile(v, user), keys.user_offers(v, user)),
        )
        assert recent == [b"e1", b"e2"] and set(bought) == {b"i1"}
        assert (rec, prof, offers) == (f"rec{user}".encode(), f"profile{user}".encode(), None)


def test_keys_on_many_slots_go_to_every_master_at_once(redis_cluster) -> None:
    conn = _connection(redis_cluster.url)
    items = [f"item{i}" for i in range(40)]
    conn.round_trip_groups([[("SET", keys.similar("v1", i), i)] for i in items])
    assert conn.mget([keys.similar("v1", i) for i in items] + [keys.similar("v1", "none")]) == [
        *[i.encode() for i in items],
        None,
    ]
    nodes = conn.router.client.nodes_manager
    assert len({nodes.get_node_from_slot(key_slot(keys.similar("v1", i).encode())).name for i in items}) == 3
    # a multi-key command across slots is refused by the server (and answered from the fallback, as any
    # Redis error is), without marking anything down
    with pytest.raises(RedisDown, match="same slot"):
        conn.round_trip(("MGET", keys.similar("v1", "item0"), keys.similar("v1", "item1")))
    assert not conn.marked_down


def test_a_stale_slot_map_is_corrected_by_moved(redis_cluster) -> None:
    conn = _connection(redis_cluster.url)
    key = keys.recent("moved-user")
    conn.round_trip(("DEL", key), ("RPUSH", key, "x"))
    slot = key_slot(key.encode())
    nodes = conn.router.client.nodes_manager
    right = nodes.slots_cache[slot][0]
    wrong = next(n for n in nodes.get_nodes_by_server_type("primary") if n.name != right.name)
    nodes.slots_cache[slot] = [wrong]  # as after a resharding this worker has not heard of
    assert conn.round_trip(("LRANGE", key, 0, -1)) == [[b"x"]]
    assert nodes.slots_cache[slot][0].name == right.name


def test_the_service_starts_while_the_cluster_is_away(tmp_path) -> None:
    from tools.harness import free_cluster_ports

    port = free_cluster_ports(1)[0]
    store = Store(Settings(redis_url=f"redis+cluster://127.0.0.1:{port}", redis_retry_s=60))
    started = time.perf_counter()
    for _ in range(3):
        with pytest.raises(RedisDown):
            store.versions.current()
    assert time.perf_counter() - started < 1  # tried once, then marked down for the retry period
    ok, reason = store.versions.ready()
    assert not ok and reason.startswith("no cluster node answers")


def test_a_dead_master_sends_only_its_users_to_the_fallback(own_cluster) -> None:
    conn = _connection(own_cluster.url, redis_retry_s=0.3)
    users = _user_per_master(conn)
    for user in users.values():
        conn.round_trip(("RPUSH", keys.recent(user), "before"))
    own_cluster.wait_replicated()
    victim_node, victim = next(iter(users.items()))
    others = [u for n, u in users.items() if n != victim_node]
    killed = own_cluster.kill_master(keys.recent(victim))
    t0 = time.monotonic()
    slowest, victim_errors, other_errors = 0.0, 0, []
    while True:
        t = time.monotonic()
        try:
            got = conn.round_trip(("LRANGE", keys.recent(victim), 0, -1))
            break
        except RedisDown:
            victim_errors += 1
        finally:
            slowest = max(slowest, time.monotonic() - t)
        for user in others:
            try:
                assert conn.round_trip(("LRANGE", keys.recent(user), 0, -1)) == [[b"before"]]
            except RedisDown as exc:
                other_errors.append(f"{time.monotonic() - t0:.2f}s {exc}")
        assert time.monotonic() - t0 < 20, "no failover"
        time.sleep(0.01)
    assert got == [[b"before"]]  # the promoted replica has it
    assert victim_errors > 0 and slowest < 0.3, (victim_errors, slowest)  # fast failures, no timeouts
    assert other_errors == []  # cluster-require-full-coverage no: the other masters never stopped
    assert not conn.marked_down  # the store as a whole was never marked down
    assert conn.router.client.nodes_manager.get_node_from_slot(key_slot(keys.recent(victim).encode())).port != killed
