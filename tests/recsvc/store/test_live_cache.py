"""The invalidation-tracked live-state cache against a real Redis: hits, invalidation, listener loss, races."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import REGISTRY

from contract import codecs, keys
from recsvc.settings import Settings
from recsvc.store import RedisDown, Store


def _store(url: str, **kw) -> Store:
    return Store(Settings(redis_url=url, **kw))


def _live(store: Store, user_id: str):
    """The user's live state as the service reads it (recent events, live purchases; not consent)."""
    return store.users.get("v1", user_id)[0][:2]


def _wait_listener(store: Store) -> None:
    _live(store, "warm-up")  # starts the listener thread
    assert _eventually(lambda: store.users.live_cache._listening, timeout=5)


def _listener_ids(r) -> list[int]:
    return [int(c["id"]) for c in r.client_list() if "t" in c["flags"]]  # the tracking (BCAST) connection


def _eventually(fn, timeout: float = 1.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.005)
    return fn()


def test_unchanged_users_are_served_from_the_cache_and_writes_invalidate(own_redis) -> None:
    store = _store(own_redis.url)
    _wait_listener(store)
    r = own_redis.client()
    assert _live(store, "u1") == ([], frozenset())
    hits = _user_state_counts()[0]
    assert _live(store, "u1") == ([], frozenset()) and _user_state_counts()[0] == hits + 1  # from memory
    # Another process writes (as POST /v1/events does): the next read sees it within a second.
    r.sadd(keys.live_bought("u1"), "i9")
    assert _eventually(lambda: _live(store, "u1")[1] == frozenset({"i9"}))
    r.lpush(keys.recent("u1"), codecs.encode_obj(["view", "i3", 1.0]))
    assert _eventually(lambda: _live(store, "u1")[0] == [("view", "i3", 1.0)])
    r.delete(keys.recent("u1"), keys.live_bought("u1"))
    assert _eventually(lambda: _live(store, "u1") == ([], frozenset()))
    r.flushdb()
    assert _live(store, "u1") == ([], frozenset())


def test_lost_listener_means_no_caching_until_it_is_back(own_redis) -> None:
    store = _store(own_redis.url)
    _wait_listener(store)
    r = own_redis.client()
    _live(store, "u2")
    (first,) = _listener_ids(r)
    r.client_kill_filter(_id=first)
    # While the listener is away a write must still be seen (no stale entry survives the reconnect).
    r.sadd(keys.live_bought("u2"), "x")
    assert _eventually(lambda: _live(store, "u2")[1] == frozenset({"x"}))
    assert _eventually(lambda: len(_listener_ids(r)) == 1 and _listener_ids(r) != [first], timeout=5)
    assert _eventually(lambda: store.users.live_cache._listening)
    _live(store, "u2")
    hits = _user_state_counts()[0]
    _live(store, "u2")
    assert _user_state_counts()[0] == hits + 1  # caching again
    r.sadd(keys.live_bought("u2"), "y")  # and invalidations flow to the new listener
    assert _eventually(lambda: _live(store, "u2")[1] == frozenset({"x", "y"}))


def test_cached_users_stay_correct_when_data_connections_die(own_redis) -> None:
    store = _store(own_redis.url)
    _wait_listener(store)
    r = own_redis.client()
    _live(store, "u3")
    listener = _listener_ids(r)
    for c in r.client_list():
        if int(c["id"]) not in listener and "client" not in c["cmd"]:
            r.client_kill_filter(_id=int(c["id"]))
    r.sadd(keys.live_bought("u3"), "z")

    def seen() -> bool:
        try:
            return _live(store, "u3")[1] == frozenset({"z"})
        except Exception:  # noqa: BLE001 - RedisDown on the killed socket, until the retry period passes
            store.redis._down_until = 0.0
            return False

    assert _eventually(seen)


def test_concurrent_reads_never_keep_a_stale_value(own_redis) -> None:
    """Readers race a writer; once writing stops, every reader sees the last write within a second."""
    store = _store(own_redis.url)
    _wait_listener(store)
    writer = own_redis.client()
    users = [f"r{k}" for k in range(5)]
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for u in users:
                _live(store, u)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for k in range(400):
        writer.sadd(keys.live_bought(users[k % len(users)]), f"i{k}")
    stop.set()
    for t in readers:
        t.join()
    for n, u in enumerate(users):
        want = frozenset(f"i{k}" for k in range(400) if k % len(users) == n)
        assert _eventually(lambda u=u, want=want: _live(store, u)[1] == want), u


def test_a_write_racing_a_read_is_not_cached_stale(own_redis) -> None:
    """The write lands after Redis answered our read but before we store the answer: not kept."""
    store = _store(own_redis.url)
    _wait_listener(store)
    cache, r = store.users.live_cache, own_redis.client()

    def slow_read():
        state = frozenset(m.decode() for m in r.smembers(keys.live_bought("u5")))  # the pre-write state
        r.sadd(keys.live_bought("u5"), "late")
        time.sleep(0.2)  # the invalidation reaches the listener meanwhile
        return [], state

    hit, token = cache.begin("u5")
    assert hit is None and token is not None
    value = slow_read()
    cache.finish("u5", token, value)
    assert value[1] == frozenset()  # answered as read
    assert _live(store, "u5")[1] == frozenset({"late"})  # but not cached: the next read sees the write


def test_a_worker_reads_its_own_writes_at_once(own_redis) -> None:
    store = _store(own_redis.url)
    _wait_listener(store)
    for k in range(50):
        _live(store, "u6")  # cached
        event = {"user_id": "u6", "item_id": f"i{k}", "event": "purchase", "timestamp": 1.0, "quantity": 1}
        store.writes.ingest([event])
        assert f"i{k}" in _live(store, "u6")[1]  # no wait for the invalidation to come round


def test_cache_can_be_turned_off(own_redis) -> None:
    store = _store(own_redis.url, live_cache_users=0)
    own_redis.client().sadd(keys.live_bought("u4"), "a")
    assert _live(store, "u4")[1] == frozenset({"a"}) and store.users.live_cache is None


def _user_state_counts() -> tuple[float, float]:
    get = REGISTRY.get_sample_value
    return get("recsvc_user_state_total", {"source": "memory"}), get("recsvc_user_state_total", {"source": "redis"})


class _CountingStore(Store):
    """Counts the round trips its connection makes."""

    round_trips = 0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        send = self.redis._send

        def counting(commands: tuple) -> list:
            self.round_trips += 1
            return send(commands)

        self.redis._send = counting


def test_user_state_reads_whatever_is_missing_in_one_round_trip(own_redis) -> None:
    store = _CountingStore(Settings(redis_url=own_redis.url))
    r = own_redis.client()
    r.set(keys.catalog("v1"), codecs.encode_catalog(["a", "b", "c"], ["A", "B", "C"], ["x"] * 3, [True] * 3))
    r.set(keys.recs("v1", "u7"), codecs.encode_indexed([0, 1], [0.5, 0.25], codecs.INDEX_U16, bought=[2]))
    r.sadd(keys.live_bought("u7"), "d")
    # written before the listener tracks keys: no invalidation of these writes can arrive after the first
    # read has cached them (it would evict them and the second read would go to Redis)
    _wait_listener(store)
    store.versions.catalog("v1")  # requests decode the version's catalog first
    before = store.round_trips
    counts = _user_state_counts()
    live, lists = store.users.get("v1", "u7")
    (ids, scores), bought, segment = lists
    assert live == ([], frozenset({"d"}), None) and (ids, list(scores), bought, segment) == (
        ["a", "b"],
        [0.5, 0.25],
        {"c"},
        None,
    )
    assert store.round_trips == before + 1  # live state and lists together
    assert store.users.get("v1", "u7") == (live, lists) and store.round_trips == before + 1  # both cached
    assert _user_state_counts() == (counts[0] + 1, counts[1] + 1)  # one from Redis, one from memory
    r.lpush(keys.recent("u7"), codecs.encode_obj(["view", "b", 2.0]))  # only the live part goes stale
    assert _eventually(lambda: store.users.get("v1", "u7")[0][0] == [("view", "b", 2.0)])
    assert store.users.get("v1", "u7")[1] is lists  # the lists came from the worker's cache throughout


def test_a_failed_user_state_read_leaves_no_placeholder(own_redis) -> None:
    store = _store(own_redis.url)
    _wait_listener(store)
    store.redis._down_until = time.monotonic() + 60  # as after a Redis error: calls fail at once
    with pytest.raises(RedisDown):
        store.users.get("v1", "u8")
    assert "u8" not in store.users.live_cache._cache
    store.redis._down_until = 0.0
    own_redis.client().sadd(keys.live_bought("u8"), "x")
    assert store.users.get("v1", "u8")[0][1] == frozenset({"x"})
