"""Published versions: their state, the active pointer, rollback, pruning, and the experiment secret.

A version is written under its own namespace while its state is `writing`; one MULTI/EXEC then points
`recsvc:active` at it and marks it `complete`. These functions are the only code that changes that
state, for the publisher (training) and for operators (`training versions ...`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec
import redis

from contract import connection, keys, records
from contract.publish_lock import holder_version


class VersionError(ValueError):
    """A version operation cannot be done (unknown or incomplete version)."""


def new_version() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _str(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def active(client: redis.Redis) -> str | None:
    return _str(client.get(keys.ACTIVE))


def state(client: redis.Redis, version: str) -> str | None:
    return _str(client.hget(keys.VERSION_STATE, version))


def delete_version(client: redis.Redis, version: str) -> int:
    """Every key of the version (on every master of a cluster), then its entries in the version list and
    state; returns keys deleted."""
    deleted = connection.unlink_matching(client, keys.version_pattern(version))
    pipe = client.pipeline()
    pipe.zrem(keys.VERSIONS, version)
    pipe.hdel(keys.VERSION_STATE, version)
    pipe.execute()
    return deleted


def list_versions(client: redis.Redis) -> list[dict]:
    """Every version, oldest first: state, whether active, publish time, users.

    The active version is always listed, even when its entries in the version list are gone.
    """
    current = active(client)
    states = {_str(k): _str(v) for k, v in client.hgetall(keys.VERSION_STATE).items()}
    listed = [(_str(v), started) for v, started in client.zrange(keys.VERSIONS, 0, -1, withscores=True)]
    if current is not None and current not in {v for v, _ in listed}:
        listed.append((current, None))
    out = []
    for v, started in listed:
        meta = {_str(k): _str(x) for k, x in client.hgetall(keys.meta(v)).items()}
        out.append(
            {
                "version": v,
                "state": states.get(v, "unknown"),
                "active": v == current,
                "published_at": datetime.fromtimestamp(started, UTC).isoformat() if started is not None else None,
                "users": int(meta.get("users", 0) or 0),
            }
        )
    return out


def cleanup_stale(client: redis.Redis) -> list[str]:
    """Delete what failed publishes left behind; returns the versions removed.

    - `writing` versions whose publisher no longer holds the publish lease (it crashed or gave up); the
      version of the live lease holder is never touched;
    - orphan entries: `complete` versions whose keys are gone, and version-list entries without a state.
    The active version is never removed.
    """
    # States before the lease holder: a publisher that begins after this read is not in `states`, and one
    # that began before it holds the lease when `holder_version` reads it.
    states = {_str(k): _str(v) for k, v in client.hgetall(keys.VERSION_STATE).items()}
    listed = {_str(v) for v in client.zrange(keys.VERSIONS, 0, -1)}
    current = active(client)
    owner = holder_version(client)
    removed = []
    for v in sorted(set(states) | listed):
        if v in (current, owner):
            continue
        s = states.get(v)
        orphan = s is None or (s == keys.COMPLETE and not client.exists(keys.catalog(v)))
        if s == keys.WRITING or orphan:
            delete_version(client, v)
            removed.append(v)
    return removed


def experiments(client: redis.Redis) -> list[records.Experiment]:
    return records.decode(client.get(keys.EXPERIMENTS), list[records.Experiment]) or []


def follow_active(experiments: list[records.Experiment], active_version: str | None) -> list[records.Experiment]:
    """Variants declared `model: current` serve the active version, whatever it is now: a rollback
    (`versions activate OLD`) moves them too. Pinned (`version:<id>`) and popularity variants are kept."""
    out = []
    for e in experiments:
        if any(v.model == "current" for v in e.variants):
            variants = [
                msgspec.structs.replace(v, version=active_version) if v.model == "current" else v for v in e.variants
            ]
            e = msgspec.structs.replace(e, variants=variants)
        out.append(e)
    return out


def experiment_versions(client: redis.Redis) -> set[str]:
    """Versions that running or future experiments still serve: pruning keeps them."""
    now = datetime.now(UTC).isoformat()
    return {v.version for e in experiments(client) if e.end >= now for v in e.variants if v.version}


def prune(client: redis.Redis, keep: int, protect: Iterable[str] = ()) -> list[str]:
    """Keep the newest `keep` complete versions plus the active, protected and experiment ones; delete the rest."""
    if keep < 0:
        raise VersionError(f"keep must be >= 0, got {keep}")
    keepers = {active(client), *protect, *experiment_versions(client)}
    complete = [v["version"] for v in list_versions(client) if v["state"] == keys.COMPLETE]
    keepers.update(complete[-keep:] if keep > 0 else [])
    removed = []
    for v in complete:
        if v not in keepers:
            delete_version(client, v)
            removed.append(v)
    return removed


def activate(client: redis.Redis, version: str) -> None:
    """Point readers at a complete version (rollback or roll forward)."""
    current = state(client, version)
    if current != keys.COMPLETE:
        raise VersionError(f"version '{version}' is not a complete published version (state: {current})")
    if not client.exists(keys.catalog(version)):
        raise VersionError(f"version '{version}' is marked complete but its keys are gone")
    client.set(keys.ACTIVE, version)


def ensure_experiment_secret(client: redis.Redis) -> bytes:
    """The MAC key of recommendation ids: created once (by whoever comes first), then shared by all."""
    client.setnx(keys.EXPERIMENT_SECRET, os.urandom(32))
    return client.get(keys.EXPERIMENT_SECRET)
