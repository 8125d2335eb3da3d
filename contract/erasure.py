"""Erase a customer everywhere: the one implementation behind DELETE /v1/users/<id> and `training forget`.

An erasure first puts the keyed hash of the id on the suppression list (`keys.SUPPRESSED`), then removes
every key and value that names the customer: in every kept version (also one still being written) their
list, purchases, profile, offers, segment and audience memberships; outside versions their campaign
outcomes, experiment records, live state, impressions and consent; and their entries in the event
stream. Keys are built with `contract.keys` (never found by a SCAN pattern), so this keeps working
however key bodies change. An audit record keeps the time, the hash, what went and who asked.

The suppression list holds `blake2b(id, key=salt)`, not ids: training and `export-events` hash the ids
they read with the same salt (`keys.PRIVACY_SALT`, created once) and drop the matches, so a retrain
cannot bring the customer back, while Redis keeps nothing that names them. A publish that was running
during the erase re-applies the list to its own version before it switches (`erase_in_version`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
import redis

from contract import connection, keys, records

SALT_BYTES = 32
STREAM_BATCH = 5000
PIPELINE_BATCH = 5000


class _StreamUser(msgspec.Struct):
    """The only field of a stream entry an erasure needs (decoding less is faster)."""

    user_id: str


_stream_user = msgspec.msgpack.Decoder(_StreamUser)
_STREAM_FIELD = records.STREAM_FIELD.encode()


@dataclass
class Receipt:
    """What one erasure removed: counts per kind of record, and the versions it went through."""

    user_id: str
    user_hash: str
    removed: Counter = field(default_factory=Counter)
    versions: list[str] = field(default_factory=list)
    erased_at: float = 0.0

    def to_dict(self, with_id: bool = True) -> dict:
        out = {"user_id": self.user_id} if with_id else {}
        return out | {
            "user_hash": self.user_hash,
            "erased_at": self.erased_at,
            "removed": dict(sorted(self.removed.items())),
            "total_removed": sum(self.removed.values()),
            "versions": self.versions,
        }


# -- the keyed hash and the suppression list -----------------------------------------------------------------
def ensure_salt(client: redis.Redis) -> bytes:
    """The key of the id hash: created once (by whoever comes first), then shared by every erasure and run."""
    client.setnx(keys.PRIVACY_SALT, os.urandom(SALT_BYTES))
    return client.get(keys.PRIVACY_SALT)


def salt(client: redis.Redis) -> bytes | None:
    """The salt if any erasure ever happened (readers never create it)."""
    return client.get(keys.PRIVACY_SALT)


def user_hash(salt_bytes: bytes, user_id: str) -> str:
    return hashlib.blake2b(user_id.encode(), key=salt_bytes[:64], digest_size=16).hexdigest()


def suppression_list(client: redis.Redis) -> dict[str, float]:
    """Every erased id's hash with the time of its erasure."""
    return {
        (h.decode() if isinstance(h, bytes) else h): float(t)
        for h, t in client.hscan_iter(keys.SUPPRESSED, count=PIPELINE_BATCH)
    }


def suppressed_among(client: redis.Redis, user_ids: Iterable[str], salt_bytes: bytes | None = None) -> set[str]:
    """Which of these ids were erased (hashed here, looked up in batches: the list is never read whole)."""
    salt_bytes = salt_bytes if salt_bytes is not None else salt(client)
    if salt_bytes is None:
        return set()
    ids = list(dict.fromkeys(user_ids))
    out: set[str] = set()
    for start in range(0, len(ids), PIPELINE_BATCH):
        chunk = ids[start : start + PIPELINE_BATCH]
        found = client.hmget(keys.SUPPRESSED, [user_hash(salt_bytes, u) for u in chunk])
        out.update(u for u, t in zip(chunk, found) if t is not None)
    return out


# -- erasing -------------------------------------------------------------------------------------------------
def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def kept_versions(client: redis.Redis) -> list[str]:
    """Every version Redis still holds: complete ones and any being written."""
    listed = {_str(v) for v in client.zrange(keys.VERSIONS, 0, -1)}
    return sorted(listed | {_str(v) for v in client.hkeys(keys.VERSION_STATE)})


def _offer_ids(client: redis.Redis, version: str) -> list[str]:
    return [c.offer_id for c in records.decode(client.get(keys.campaigns(version)), list[records.Campaign]) or []]


def _segment_ids(client: redis.Redis, version: str) -> list[str]:
    return [s.id for s in records.decode(client.get(keys.segments(version)), list[records.Segment]) or []]


def _run(client: redis.Redis, planned: list[tuple[str, str, tuple]], receipts: dict[str, Receipt]) -> None:
    """Run (user, kind, command) in pipelined batches; each reply counts what was removed for that user."""
    for start in range(0, len(planned), PIPELINE_BATCH):
        chunk = planned[start : start + PIPELINE_BATCH]
        pipe = client.pipeline(transaction=False)
        for _, _, command in chunk:
            pipe.execute_command(*command)
        for (user, kind, _), removed in zip(chunk, pipe.execute()):
            if removed:
                receipts[user].removed[kind] += int(removed)


def _version_plan(client: redis.Redis, version: str, user_ids: Sequence[str]) -> list[tuple[str, str, tuple]]:
    segment_ids = _segment_ids(client, version)
    offer_ids = _offer_ids(client, version)
    plan: list[tuple[str, str, tuple]] = []
    for u in user_ids:
        plan += [
            (u, "recommendations", ("DEL", keys.recs(version, u))),  # the user's purchases travel in it
            (u, "reasons", ("DEL", keys.rec_reasons(version, u))),
            (u, "order_again", ("DEL", keys.buy_again(version, u))),
            (u, "profile", ("DEL", keys.profile(version, u))),
            (u, "offers", ("DEL", keys.user_offers(version, u))),
        ]
        plan += [(u, "segment_memberships", ("ZREM", keys.segment_members(version, s), u)) for s in segment_ids]
        for o in offer_ids:
            plan += [
                (u, "audience_memberships", ("ZREM", keys.audience(version, o, g), u)) for g in records.AUDIENCE_GROUPS
            ]
            plan.append((u, "audience_data", ("HDEL", keys.audience_data(version, o), u)))
    return plan


def erase_in_version(client: redis.Redis, version: str, user_ids: Sequence[str]) -> Counter:
    """Remove these users from one version (an erasure's pass over it, and a publish's last step)."""
    receipts = {u: Receipt(u, "") for u in user_ids}
    _run(client, _version_plan(client, version, user_ids), receipts)
    return sum((r.removed for r in receipts.values()), Counter())


def _unversioned_plan(
    client: redis.Redis, user_ids: Sequence[str], offer_ids: set[str]
) -> list[tuple[str, str, tuple]]:
    offer_ids = offer_ids | {_str(o) for o in client.smembers(keys.OUTCOME_OFFERS)}
    variants = {
        (e.experiment_id, v.name)
        for e in records.decode(client.get(keys.EXPERIMENTS), list[records.Experiment]) or []
        for v in e.variants
    }
    for member in client.smembers(keys.EXPERIMENT_VARIANTS):
        experiment_id, _, variant = _str(member).partition("\x00")
        variants.add((experiment_id, variant))
    plan: list[tuple[str, str, tuple]] = []
    for u in user_ids:
        plan += [(u, "outcomes", ("HDEL", keys.outcomes(o), u)) for o in sorted(offer_ids)]
        for exp, variant in sorted(variants):
            plan += [
                (u, "experiment_records", ("SREM", keys.experiment_counter(exp, variant, "users"), u)),
                (u, "experiment_records", ("SREM", keys.experiment_counter(exp, variant, "converters"), u)),
                (u, "experiment_records", ("HDEL", keys.experiment_counter(exp, variant, "revenue"), u)),
            ]
        plan += [
            (u, "recent_events", ("DEL", keys.recent(u))),
            (u, "live_purchases", ("DEL", keys.live_bought(u))),
            (u, "impressions", ("DEL", keys.impressions(u))),
            (u, "consent_index", ("ZREM", keys.CONSENT_USERS, u)),
        ]
        plan += [(u, "consent_index", ("SREM", keys.opted_out(p), u)) for p in keys.PURPOSES]
    return plan


def _drop_consent_and_notify(client: redis.Redis, user_ids: Sequence[str], receipts: dict[str, Receipt]) -> None:
    """Delete the consent key, then write and delete it again in one MULTI: Redis tells every worker
    tracking the user's live state (recsvc/store/live_cache.py) to forget what it holds in memory, even
    when the user had no live keys to delete. Nobody ever reads the placeholder. One MULTI per user: on
    a cluster, a transaction stays within one user's slot."""
    for u in user_ids:
        tx = client.pipeline(transaction=True)
        tx.delete(keys.consent(u))
        tx.set(keys.consent(u), b"")
        tx.delete(keys.consent(u))
        existed = tx.execute()[0]
        if existed:
            receipts[u].removed["consent"] += int(existed)


def _streams(client: redis.Redis, user_ids: Iterable[str]) -> list[str]:
    """The event stream(s) these users' live events are appended to (one shard per user on a cluster)."""
    shards = connection.event_shards(client)
    return [keys.event_stream(s, shards) for s in sorted({keys.event_shard(u, shards) for u in user_ids})]


def _xrange(client: redis.Redis, stream: str, start: str, count: int) -> list:
    """XRANGE answered as the parser reads it ([id, [field, value, ...]] per entry): redis-py's own reply
    callback builds a dict per entry and costs 3x the read."""
    node = client.get_redis_connection(client.get_node_from_key(stream)) if connection.is_cluster(client) else client
    pool = node.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("XRANGE", stream, start, "+", "COUNT", count)
        return conn.read_response()
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def _erase_from_streams(client: redis.Redis, user_ids: set[str], receipts: dict[str, Receipt], batch: int) -> None:
    """XDEL every stream entry whose StreamEvent names one of the users (one pass over each stream)."""
    for stream in _streams(client, user_ids):
        start = "-"
        while True:
            entries = _xrange(client, stream, start, batch)
            if not entries:
                break
            doomed: list[bytes] = []
            for entry_id, fields in entries:
                if len(fields) == 2 and fields[0] == _STREAM_FIELD:  # the one field the service writes
                    blob = fields[1]
                else:
                    blob = dict(zip(fields[::2], fields[1::2])).get(_STREAM_FIELD)
                try:
                    user = _stream_user.decode(blob).user_id
                except (TypeError, msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if user in user_ids:
                    doomed.append(entry_id)
                    receipts[user].removed["stream_events"] += 1
            if doomed:
                client.xdel(stream, *doomed)
            start = "(" + _str(entries[-1][0])  # exclusive: the next page starts after this entry
            if len(entries) < batch:
                break


def erase(
    client: redis.Redis, user_ids: Sequence[str], requested_by: str, stream_batch: int = STREAM_BATCH
) -> list[Receipt]:
    """Erase these customers from Redis; one receipt each (an unknown id is erased too, with nothing removed)."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return []
    salt_bytes = ensure_salt(client)
    now = time.time()
    receipts = {u: Receipt(u, user_hash(salt_bytes, u), erased_at=now) for u in user_ids}
    # First on the suppression list: a publish running now re-applies it to its version before it switches.
    client.hset(keys.SUPPRESSED, mapping={r.user_hash: now for r in receipts.values()})
    versions = kept_versions(client)
    offer_ids: set[str] = set()
    for v in versions:
        offer_ids.update(_offer_ids(client, v))
        _run(client, _version_plan(client, v, user_ids), receipts)
    _run(client, _unversioned_plan(client, user_ids, offer_ids), receipts)
    _drop_consent_and_notify(client, user_ids, receipts)
    _erase_from_streams(client, set(user_ids), receipts, stream_batch)
    pipe = client.pipeline(transaction=False)
    for r in receipts.values():
        r.versions = versions
        audit = records.ErasureAudit(now, r.user_hash, requested_by, dict(r.removed), versions)
        pipe.lpush(keys.PRIVACY_AUDIT, records.encode(audit))
    pipe.execute()
    return list(receipts.values())


def audit_log(client: redis.Redis, limit: int = 100) -> list[records.ErasureAudit]:
    """The newest erasure records first."""
    return [records.decode(b, records.ErasureAudit) for b in client.lrange(keys.PRIVACY_AUDIT, 0, limit - 1)]


def counts(client: redis.Redis) -> dict[str, int]:
    """Erased customers and audit records (numbers only: for the dashboard)."""
    pipe = client.pipeline(transaction=False)
    pipe.hlen(keys.SUPPRESSED)
    pipe.llen(keys.PRIVACY_AUDIT)
    erased, audited = pipe.execute()
    return {"erased": erased, "audit_records": audited}
