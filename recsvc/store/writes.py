"""What the service writes: live events (stream, live state, experiment counters) and campaign outcomes."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from contract import keys, records
from recsvc.store.cluster_routing import group_slot
from recsvc.store.connection import RedisConnection
from recsvc.store.user_state import UserStates


def _entry(event: dict) -> bytes:
    return records.encode(records.StreamEvent(**event))


def _live_state(events: list[dict]) -> list[tuple]:
    """Commands that add the events to each user's recent events and live purchases (impressions do
    not re-rank: shown is not seen)."""
    commands: list[tuple] = []
    for e in events:
        if e["event"] == "impression":
            continue
        commands.append(
            ("LPUSH", keys.recent(e["user_id"]), records.encode((e["event"], e["item_id"], e["timestamp"])))
        )
        if e["event"] == "purchase":
            commands.append(("SADD", keys.live_bought(e["user_id"]), e["item_id"]))
            commands.append(("EXPIRE", keys.live_bought(e["user_id"]), keys.LIVE_BOUGHT_TTL_S))
    for user in {e["user_id"] for e in events if e["event"] != "impression"}:
        commands.append(("LTRIM", keys.recent(user), 0, keys.RECENT_LENGTH - 1))
        commands.append(("EXPIRE", keys.recent(user), keys.RECENT_TTL_S))
    return commands


class Writes:
    def __init__(self, redis: RedisConnection, users: UserStates) -> None:
        self.redis = redis
        self.users = users

    def ingest(self, events: list[dict], attribution: Sequence[tuple] = ()) -> list[str]:
        """Append events to the stream and each user's live state, and run the experiment counters'
        `attribution` commands; returns the stream ids. One Redis applies the batch atomically; a
        cluster per slot (`_ingest_per_slot`)."""
        if self.redis.cluster:
            ids = self._ingest_per_slot(events, attribution)
            self.users.forget({e["user_id"] for e in events})
            return ids

        def build(pipe) -> None:
            for e in events:
                pipe.xadd(keys.EVENTS_STREAM, {records.STREAM_FIELD: _entry(e)})
            for command in _live_state(events):
                pipe.execute_command(*command)
            for command in attribution:
                pipe.execute_command(*command)

        results = self.redis.pipeline(build, transaction=True)
        self.users.forget({e["user_id"] for e in events})
        return [r.decode() if isinstance(r, bytes) else str(r) for r in results[: len(events)]]

    def _ingest_per_slot(self, events: list[dict], attribution: Sequence[tuple]) -> list[str]:
        """On a cluster no command may span slots, so a batch is applied as one MULTI/EXEC per slot: the
        XADDs of each stream shard, each user's live state (with their impressions), each experiment's
        counters; every master gets its share in one write, all at once.

        A batch is therefore atomic per shard, per user and per experiment, not as a whole: when a
        master fails in the middle the caller gets RedisDown (503) and what the other masters applied
        stays. A client that sends the batch again adds those events to the stream a second time
        (at least once); `training run` drops exact duplicates (same user, item, event, timestamp,
        quantity, price), so a retried batch that carries its timestamps is learnt from once."""
        shards = keys.EVENT_SHARDS
        by_shard: dict[int, list[int]] = {}
        for k, e in enumerate(events):
            by_shard.setdefault(keys.event_shard(e["user_id"], shards), []).append(k)
        by_slot: dict[int, list[tuple]] = {}
        for command in [*_live_state(events), *attribution]:
            by_slot.setdefault(group_slot([command]), []).append(command)
        shard_groups = [
            [("XADD", keys.event_stream(shard, shards), "*", records.STREAM_FIELD, _entry(events[k])) for k in idx]
            for shard, idx in by_shard.items()
        ]
        state_groups = [[("MULTI",), *commands, ("EXEC",)] for commands in by_slot.values()]
        replies = self.redis.round_trip_groups([*shard_groups, *state_groups])
        ids: list[str] = [""] * len(events)
        for (shard, idx), added in zip(by_shard.items(), replies):
            for k, stream_id in zip(idx, added):
                ids[k] = f"{shard}:{stream_id.decode()}"
        return ids

    def merge_outcomes(self, offer_id: str, outcomes: dict[str, records.Outcome]) -> None:
        """Merge each user's new outcome into the stored one (Outcome.merged), atomically per batch."""
        key = keys.outcomes(offer_id)

        def apply(pipe: redis.client.Pipeline) -> None:
            current = pipe.hmget(key, list(outcomes))
            merged = {}
            for (user, new), old_blob in zip(outcomes.items(), current):
                old = records.decode(old_blob, records.Outcome)
                merged[user] = records.encode(old.merged(new) if old is not None else new)
            pipe.multi()
            pipe.hset(key, mapping=merged)

        # An erasure finds every outcomes hash through this set: added first (it is another slot on a
        # cluster, outside the transaction), so no outcome is ever stored that an erasure cannot find.
        self.redis.round_trip(("SADD", keys.OUTCOME_OFFERS, offer_id))
        self.redis.call(lambda: self.redis.client.transaction(apply, key))
