"""Consent statements against a real Redis: the latest statement wins, whoever records it and in what order."""

from __future__ import annotations

from contract import consent, keys
from contract.records import Consent


def test_the_latest_statement_wins_whatever_order_they_arrive_in(own_redis) -> None:
    client = own_redis.client()
    applied, now = consent.record(client, "c1", Consent(profiling=False, marketing=True, stated_at=200.0))
    assert applied and now == Consent(False, True, 200.0, "api")
    # An older statement arriving later (a delayed queue) does not undo the newer one.
    applied, now = consent.record(client, "c1", Consent(profiling=True, marketing=True, stated_at=100.0))
    assert not applied and now.profiling is False and now.stated_at == 200.0
    # A newer one does; a tie goes to the later arrival.
    assert consent.record(client, "c1", Consent(True, False, 300.0, "users_file"))[0]
    assert consent.record(client, "c1", Consent(True, True, 300.0))[0]
    assert consent.read(client, "c1") == Consent(True, True, 300.0, "api")


def test_opt_out_sets_and_the_index_follow_the_statement_in_force(own_redis) -> None:
    client = own_redis.client()
    consent.record(client, "a", Consent(profiling=False, marketing=False, stated_at=1.0))
    consent.record(client, "b", Consent(profiling=True, marketing=False, stated_at=1.0))
    consent.record(client, "c", Consent(profiling=True, marketing=True, stated_at=1.0))
    assert consent.opt_out_counts(client) == {"profiling": 1, "marketing": 2, "statements": 3}
    consent.record(client, "a", Consent(profiling=True, marketing=True, stated_at=2.0))
    consent.record(client, "b", Consent(profiling=True, marketing=True, stated_at=0.5))  # older: ignored
    assert client.smembers(keys.opted_out("marketing")) == {b"b"}
    assert client.zscore(keys.CONSENT_USERS, "a") == 2.0
    assert set(consent.read_all(client, batch=2)) == {"a", "b", "c"}


def test_many_statements_at_once_keep_newer_stored_ones(own_redis) -> None:
    client = own_redis.client()
    consent.record(client, "u1", Consent(profiling=True, marketing=True, stated_at=500.0))
    statements = {
        f"u{k}": Consent(profiling=False, marketing=True, stated_at=400.0, source="users_file") for k in range(2500)
    }
    assert consent.record_many(client, statements, batch=1000) == 2499  # u1 said yes later
    assert consent.read(client, "u1").profiling is True and consent.read(client, "u7").profiling is False
    assert consent.opt_out_counts(client)["profiling"] == 2499
