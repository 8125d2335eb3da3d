"""Erasing a customer against a real Redis: after it, a SCAN of everything finds the id nowhere."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contract import consent, erasure, keys, records
from recsvc.logic.attribution import record
from recsvc.logic.recommend import recommendations
from recsvc.settings import Settings
from recsvc.store import Store
from tests.conftest import python_m
from tests.privacy_shop import ERASED, all_keys, experiments_file, make_shop, offers_file, traces

OTHER = "zq-keep-5Tn6"  # erased next to ERASED: must keep everything


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shop(tmp_path_factory.mktemp("privacy-shop"), renamed=(ERASED, OTHER))


@pytest.fixture(scope="module")
def result(shop: Path):
    from training.pipeline import RunConfig, run

    return run(
        RunConfig(
            events=[shop / "events.csv"],
            items=shop / "items.csv",
            offers=offers_file(shop),
            evaluate=False,
            progress=False,
        )
    )


def publish(result, url: str, folder: Path) -> str:
    from training.publish.experiments_file import load
    from training.publish.redis_publisher import publish_result

    return publish_result(result, url, experiments=load(experiments_file(folder)))


def live_traces(store: Store, user: str) -> None:
    """What the service writes for a customer: events with attribution, consent, a campaign outcome."""
    answer = recommendations(store, user, 5, None, set())
    assert answer["experiment_id"] == "home-recs" and answer["source"] == "personalized"
    shown = answer["items"][0]["item_id"]
    now = time.time()
    events = [
        {"user_id": user, "item_id": shown, "event": "impression", "timestamp": now, "quantity": 1.0},
        {"user_id": user, "item_id": shown, "event": "view", "timestamp": now, "quantity": 1.0},
        {"user_id": user, "item_id": shown, "event": "purchase", "timestamp": now + 1, "quantity": 1.0, "price": 9.5},
    ]
    events[0]["recommendation_id"] = answer["recommendation_id"]
    record(store, events)
    consent.record(store.redis.client, user, records.Consent(profiling=True, marketing=False, stated_at=now))
    version = store.versions.active_version()
    offers = [c.offer_id for c in store.reads.campaigns(version)]
    groups = {o: store.reads.audience_group(version, o, [user])[0] for o in offers}
    offer, group = next((o, g) for o, g in groups.items() if g is not None)
    store.writes.merge_outcomes(offer, {user: records.Outcome(group=group, converted=True, revenue=3.0)})


def test_an_erased_customer_leaves_no_trace_in_any_version_the_live_state_or_the_stream(
    own_redis, result, tmp_path
) -> None:
    client = own_redis.client()
    first = publish(result, own_redis.url, tmp_path)
    store = Store(Settings(redis_url=own_redis.url, version_cache_s=0))
    live_traces(store, ERASED)
    live_traces(store, OTHER)
    second = publish(result, own_redis.url, tmp_path)  # a second kept version, the experiment still running
    before = traces(client, ERASED)
    for needle in (f"v:{first}:rec:", f"v:{second}:profile:", "recsvc:events (value)", "recsvc:consent:", ":members:"):
        assert any(needle in t for t in before), needle  # the search finds what is there
    assert any(":audience:" in t for t in before) and any("recsvc:outcomes:" in t for t in before)
    assert any("recsvc:exp:{e:home-recs}:" in t for t in before) and any("recsvc:impressions:" in t for t in before)
    keys_before = all_keys(client)
    other_before = traces(client, OTHER)

    res = python_m("training", "forget", "--redis", own_redis.url, "--user", ERASED)
    assert res.returncode == 0, res.stderr
    assert ERASED not in res.stdout + res.stderr  # the receipt names the hash, never the id

    assert traces(client, ERASED) == []
    assert traces(client, OTHER) == other_before  # nobody else lost anything
    gone = keys_before - all_keys(client)
    assert gone and all(ERASED in k for k in gone)  # only the erased customer's own keys went
    import json

    receipt = json.loads(res.stdout.splitlines()[0])
    assert receipt["versions"] == sorted([first, second])
    removed = receipt["removed"]
    assert removed["recommendations"] == 2 and removed["profile"] == 2  # purchases travel in the list
    assert removed["segment_memberships"] >= 6 and removed["audience_memberships"] >= 2
    assert removed["stream_events"] == 3 and removed["recent_events"] == 1 and removed["live_purchases"] == 1
    assert removed["experiment_records"] >= 2 and removed["outcomes"] == 1 and removed["consent"] == 1
    assert removed["consent_index"] == 2  # who has a statement; opted out of marketing
    # The suppression list and the audit record hold the keyed hash; the salt is created once.
    salt = client.get(keys.PRIVACY_SALT)
    assert client.hget(keys.SUPPRESSED, erasure.user_hash(salt, ERASED)) is not None
    (audit,) = erasure.audit_log(client)
    assert audit.user_hash == receipt["user_hash"] == erasure.user_hash(salt, ERASED)
    assert audit.requested_by.startswith("cli (") and audit.removed == removed


def test_erasing_an_unknown_id_is_harmless_and_still_suppresses_it(own_redis, result, tmp_path) -> None:
    client = own_redis.client()
    publish(result, own_redis.url, tmp_path)
    keys_before = all_keys(client)
    (receipt,) = erasure.erase(client, ["never-seen-Q7"], requested_by="test")
    assert sum(receipt.removed.values()) == 0
    assert all_keys(client) - keys_before == {keys.PRIVACY_SALT, keys.SUPPRESSED, keys.PRIVACY_AUDIT}
    assert erasure.suppressed_among(client, ["never-seen-Q7", OTHER]) == {"never-seen-Q7"}
    # the same salt for later erasures: one hash per id, whoever erases
    salt = client.get(keys.PRIVACY_SALT)
    erasure.erase(client, ["never-seen-Q7"], requested_by="test")
    assert client.get(keys.PRIVACY_SALT) == salt and client.hlen(keys.SUPPRESSED) == 1


def test_erasure_from_a_long_stream_takes_seconds(own_redis) -> None:
    """The stream is the one place an erasure must read whole: 200k entries, the customer's scattered in it."""
    client = own_redis.client()
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for k in range(200_000):
        user = ERASED if k % 997 == 0 else f"u{k % 5000}"
        event = records.StreamEvent(user_id=user, item_id=f"i{k % 300}", event="view", timestamp=now)
        pipe.xadd(keys.EVENTS_STREAM, {records.STREAM_FIELD: records.encode(event)})
        if k % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    started = time.perf_counter()
    (receipt,) = erasure.erase(client, [ERASED], requested_by="test")
    seconds = time.perf_counter() - started
    assert receipt.removed["stream_events"] == len(range(0, 200_000, 997))
    assert client.xlen(keys.EVENTS_STREAM) == 200_000 - receipt.removed["stream_events"]
    assert traces(client, ERASED) == []
    assert seconds < 10, seconds
