"""The live-state cache on a real Redis Cluster: one tracking listener per master, through a failover."""

from __future__ import annotations

import time

from redis.crc import key_slot

from contract import keys
from recsvc.settings import Settings
from recsvc.store import RedisDown, Store
from recsvc.store.live_cache import ClusterLiveCache


def _wait(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _store(url: str) -> tuple[Store, ClusterLiveCache]:
    store = Store(Settings(redis_url=url, redis_retry_s=0.3))
    cache = store.users.live_cache
    assert isinstance(cache, ClusterLiveCache)
    return store, cache


def _users_per_master(store: Store) -> dict[str, str]:
    nodes = store.redis.router.client.nodes_manager
    out: dict[str, str] = {}
    for u in range(300):
        out.setdefault(nodes.get_node_from_slot(key_slot(keys.recent(f"lc{u}").encode())).name, f"lc{u}")
    return out


def _live(store: Store, user: str):
    return store.users.get("v1", user)[0]


def _read_or_none(store: Store, user: str):
    try:
        return _live(store, user)
    except RedisDown:
        return None


def test_each_master_invalidates_its_own_users(redis_cluster) -> None:
    store, cache = _store(redis_cluster.url)
    users = _users_per_master(store)
    assert len(users) == 3
    _live(store, "warm-up")
    _wait(lambda: all(cache.serving(u) for u in users.values()))
    for user in users.values():
        assert _live(store, user) == ([], frozenset(), None)
        assert cache.begin(user)[0] == ([], frozenset(), None)  # cached now
        store.redis.round_trip(("SADD", keys.live_bought(user), "i1"))  # as another worker's POST /v1/events
        _wait(lambda user=user: _live(store, user)[1] == frozenset({"i1"}))
        store.redis.round_trip(("LPUSH", keys.impressions(user), "x"))  # not live state: no invalidation
        assert cache.begin(user)[0] == ([], frozenset({"i1"}), None)
    cache.close()


def test_a_failover_stops_caching_only_that_masters_users_until_its_replica_is_tracked(own_cluster) -> None:
    store, cache = _store(own_cluster.url)
    users = _users_per_master(store)
    _live(store, "warm-up")
    _wait(lambda: all(cache.serving(u) for u in users.values()))
    for user in users.values():
        _live(store, user)
    own_cluster.wait_replicated()
    victim_node, victim = next(iter(users.items()))
    t0 = time.monotonic()
    own_cluster.kill_master(keys.recent(victim))
    timeline, last = [], None
    while time.monotonic() - t0 < 20:
        state = tuple(cache.serving(u) for u in users.values())
        if state != last:
            timeline.append((round(time.monotonic() - t0, 3), state))
            last = state
        if len(timeline) > 1 and all(state):
            break
        time.sleep(0.002)
    why = f"timeline {timeline}"
    lost = [t for t, s in timeline if not s[0]]
    assert lost and lost[0] < 1.0, why  # a killed master's listener is lost at once (RST on loopback)
    assert all(s[1] and s[2] for _, s in timeline), why  # the other masters' users stay cacheable
    assert all(timeline[-1][1]), why  # and the victim's again, on the promoted replica
    # any live node answers CLUSTER SLOTS; the one asked may learn of the promotion a gossip round later
    _wait(lambda: own_cluster.master_of(keys.recent(victim)) != int(victim_node.rsplit(":", 1)[1]))
    # the data connections learn the new map from their first failure; then the promoted replica's
    # invalidations reach the cache: a write shows on the next reads
    _wait(lambda: _read_or_none(store, victim) is not None)
    store.redis.round_trip(("SADD", keys.live_bought(victim), "after"))
    _wait(lambda: _live(store, victim)[1] == frozenset({"after"}))
    cache.close()
