"""Redis URLs (one node or a cluster) and the cluster-ready key schema."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from contract import connection, keys


def test_cluster_urls_are_parsed_with_redis_py_options() -> None:
    t = connection.parse("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert t.cluster and t.nodes == [("127.0.0.1", 7000), ("127.0.0.1", 7001)] and "ssl" not in t.options
    t = connection.parse("rediss+cluster://bob:s%40cret@h1:7000,[::1]:7001/0?ssl_cert_reqs=none")
    assert t.nodes == [("h1", 7000), ("::1", 7001)]
    assert t.options["ssl"] is True and t.options["username"] == "bob" and t.options["password"] == "s@cret"
    assert t.options["ssl_cert_reqs"] == "none"
    assert "s@cret" not in repr(t) and "cret" not in connection.safe_url("rediss+cluster://bob:s%40cret@h1:7000")
    for url in ("redis://localhost:6379/0", "rediss://h:1/2", "unix:///tmp/redis.sock"):
        assert not connection.parse(url).cluster


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://x", "redis://HOST:PORT/DB"),
        ("redis://h:notaport/0", "invalid port"),
        ("redis+cluster://h:1/3", "database 0"),
        ("redis+cluster://h", "HOST:PORT"),
        ("redis+cluster://h:1,h:x", "'h:x'"),
        ("redis+cluster://h:1?socket_timeout=soon", "bad option"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(connection.UrlError, match=fragment):
        connection.parse(url)


@pytest.mark.parametrize("user", ["42", "a}b", "{x}", "ünï", "", "u:{1}:x"])
def test_everything_a_request_reads_for_a_user_is_in_one_slot(user: str) -> None:
    assert len({key_slot(k.encode()) for k in keys.user_keys("20260101T000000Z-abc123", user)}) == 1
    assert keys.live_user(keys.recent(user)) == user and keys.live_user(keys.live_bought(user)) == user
    assert keys.live_user(keys.impressions(user)) is None  # impressions do not invalidate live state


def test_what_changes_together_shares_a_slot() -> None:
    v = "20260101T000000Z-abc123"
    control = [keys.ACTIVE, keys.VERSIONS, keys.VERSION_STATE, keys.EXPERIMENTS, keys.EXPERIMENT_SECRET]
    assert len({key_slot(k.encode()) for k in [*control, keys.control("anything")]}) == 1
    singletons = [keys.catalog(v), keys.popular(v), keys.popular(v, "books"), keys.trending(v), keys.meta(v)]
    singletons += [keys.segments(v), keys.campaigns(v), keys.distributions(v)]
    assert len({key_slot(k.encode()) for k in singletons}) == 1
    offer = [keys.audience(v, "o", "treatment"), keys.audience(v, "o", "holdout"), keys.audience_data(v, "o")]
    assert len({key_slot(k.encode()) for k in offer}) == 1
    counters = [keys.experiment_counter("e", variant, n) for variant in "ab" for n in ("users", "clicks")]
    assert len({key_slot(k.encode()) for k in [*counters, keys.experiment_rejected("e")]}) == 1
    # every key of a version matches its pattern, whatever its tag
    assert all(k.startswith(keys.version_pattern(v)[:-1]) for k in [*singletons, *offer, keys.recs(v, "1")])


def test_event_streams_spread_over_slots_and_keep_a_user_on_one_shard() -> None:
    assert keys.event_streams() == [keys.EVENTS_STREAM] == ["recsvc:events"]  # one Redis: as before
    streams = keys.event_streams(keys.EVENT_SHARDS)
    assert len({key_slot(s.encode()) for s in streams}) == keys.EVENT_SHARDS
    shards = {keys.event_shard(f"u{k}", keys.EVENT_SHARDS) for k in range(1000)}
    assert shards == set(range(keys.EVENT_SHARDS))
    assert keys.event_shard("u1", keys.EVENT_SHARDS) == keys.event_shard("u1", keys.EVENT_SHARDS)
