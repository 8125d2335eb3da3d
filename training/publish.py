"""Publish a run's results to Redis as one atomic, versioned step.

Everything is written under a fresh version namespace with pipelined bulk writes while the version
is marked 'writing'; then one MULTI/EXEC switches the active pointer and marks it 'complete'.
Readers never see a mix of versions, and a crash mid-publish leaves the previous version active. The
next publish deletes such stale partial versions, and older complete versions beyond `keep` go.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import redis
from tqdm import tqdm

from recsvc import keys
from training.errors import TrainingError

log = logging.getLogger(__name__)
DEFAULT_KEEP = 3
BATCH = 2000


class PublishError(TrainingError):
    exit_code = 4


def connect(url: str) -> redis.Redis:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=60)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise PublishError(f"cannot reach Redis at {_safe_url(url)}: {exc}") from exc
    return client


def _safe_url(url: str) -> str:
    # Never echo a password: redis://user:secret@host -> redis://***@host
    return url.split("@", 1)[-1] if "@" in url else url


def new_version() -> str:
    """Sortable and unique: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _delete_version(client: redis.Redis, version: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=keys.version_pattern(version), count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    pipe = client.pipeline()
    pipe.zrem(keys.VERSIONS, version)
    pipe.hdel(keys.VERSION_STATE, version)
    pipe.execute()
    return deleted


def list_versions(client: redis.Redis) -> list[dict]:
    active = _str(client.get(keys.ACTIVE))
    states = {_str(k): _str(v) for k, v in client.hgetall(keys.VERSION_STATE).items()}
    out = []
    for version, started in client.zrange(keys.VERSIONS, 0, -1, withscores=True):
        v = _str(version)
        meta = {_str(k): _str(x) for k, x in client.hgetall(keys.meta(v)).items()}
        out.append(
            {
                "version": v,
                "state": states.get(v, "unknown"),
                "active": v == active,
                "published_at": datetime.fromtimestamp(started, UTC).isoformat(),
                "users": int(meta.get("users", 0) or 0),
            }
        )
    return out


def _str(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def cleanup_stale(client: redis.Redis) -> list[str]:
    """Delete versions left 'writing' by a crashed publish (never the active one)."""
    active = _str(client.get(keys.ACTIVE))
    stale = [_str(v) for v, s in client.hgetall(keys.VERSION_STATE).items() if _str(s) == keys.WRITING]
    removed = []
    for v in stale:
        if v != active:
            _delete_version(client, v)
            removed.append(v)
            log.info("removed stale partial version %s", v)
    return removed


def prune(client: redis.Redis, keep: int = DEFAULT_KEEP, protect: Iterable[str] = ()) -> list[str]:
    """Keep the newest `keep` complete versions plus the active and protected ones; delete the rest."""
    active = _str(client.get(keys.ACTIVE))
    keepers = {active, *protect, *experiment_versions(client)}
    complete = [v["version"] for v in list_versions(client) if v["state"] == keys.COMPLETE]
    keepers.update(complete[-keep:] if keep > 0 else [])
    removed = []
    for v in complete:
        if v not in keepers:
            _delete_version(client, v)
            removed.append(v)
    return removed


def activate(client: redis.Redis, version: str) -> None:
    """Point readers at a complete version (rollback or roll forward)."""
    state = _str(client.hget(keys.VERSION_STATE, version))
    if state != keys.COMPLETE:
        raise PublishError(f"version '{version}' is not a complete published version (state: {state})")
    client.set(keys.ACTIVE, version)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Publisher:
    """Writes one version; `commit` makes it active atomically."""

    def __init__(self, client: redis.Redis, batch: int = BATCH, progress: bool = False) -> None:
        self.client = client
        self.batch = batch
        self.progress = progress
        self.version = new_version()
        self.commands = 0

    def begin(self) -> None:
        cleanup_stale(self.client)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.VERSION_STATE, self.version, keys.WRITING)
        pipe.zadd(keys.VERSIONS, {self.version: time.time()})
        pipe.execute()

    def write(self, pairs: Iterable[tuple[str, bytes | str]], desc: str, total: int | None = None) -> None:
        """SET key value for every pair, pipelined in batches."""
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for key, value in tqdm(pairs, desc=desc, total=total, disable=not self.progress, leave=False):
            pipe.set(key, value)
            pending += 1
            if pending >= self.batch:
                pipe.execute()
                self.commands += pending
                pending = 0
        if pending:
            pipe.execute()
            self.commands += pending

    def commit(self, meta: dict[str, str], experiments: list[dict] | None = None) -> str:
        """Switch readers to this version (and to the new experiments, when given) in one MULTI/EXEC."""
        self.client.hset(keys.meta(self.version), mapping=meta)
        self.client.setnx(keys.EXPERIMENT_SECRET, os.urandom(32))
        pipe = self.client.pipeline(transaction=True)
        pipe.set(keys.ACTIVE, self.version)
        pipe.hset(keys.VERSION_STATE, self.version, keys.COMPLETE)
        if experiments is not None:
            pipe.set(keys.EXPERIMENTS, keys.encode_obj(resolve_experiments(self.client, experiments, self.version)))
        pipe.execute()
        return self.version


def resolve_experiments(client: redis.Redis, experiments: list[dict], current: str) -> list[dict]:
    """Pin every variant to a version: current -> this publish, version:<id> -> that complete version."""
    out = []
    for e in experiments:
        variants = []
        for v in e["variants"]:
            version = None
            if v["model"] == "current":
                version = current
            elif v["model"].startswith("version:"):
                version = v["model"].split(":", 1)[1]
                if _str(client.hget(keys.VERSION_STATE, version)) != keys.COMPLETE:
                    raise PublishError(
                        f"experiment '{e['experiment_id']}', variant '{v['name']}': version "
                        f"'{version}' is not a complete published version"
                    )
            variants.append(v | {"version": version})
        out.append(e | {"variants": variants})
    return out


def experiment_versions(client: redis.Redis) -> set[str]:
    """Versions that running or future experiments still serve: pruning keeps them."""
    now = datetime.now(UTC).isoformat()
    pinned = set()
    for e in keys.decode_obj(client.get(keys.EXPERIMENTS)) or []:
        if e["end"] >= now:
            pinned |= {v["version"] for v in e["variants"] if v.get("version")}
    return pinned


def publish_customers(pub: Publisher, customers) -> None:
    """Profiles, the segment list, each segment's members (sorted sets) and popular items."""
    from training.segments.profiles import profile_record

    v = pub.version
    table = customers.profiles
    pub.write(
        ((keys.profile(v, str(u)), keys.encode_obj(profile_record(str(u), row))) for u, row in table.iterrows()),
        "profiles",
        len(table),
    )
    pub.write([(keys.segments(v), keys.encode_obj(customers.segments))], "segments")
    pub.write([(keys.distributions(v), keys.encode_obj(customers.report.get("distributions", {})))], "distributions")
    pub.write(
        (
            (keys.segment_popular(v, sid), keys.encode_list([i for i, _ in lst], [s for _, s in lst]))
            for sid, lst in customers.segment_popular.items()
        ),
        "segment popular",
    )
    pipe = pub.client.pipeline(transaction=False)
    for sid, users in customers.members.items():
        key = keys.segment_members(v, sid)
        for chunk in _chunks(users, pub.batch):
            pipe.zadd(key, dict.fromkeys(chunk, 0))
            pipe.execute()


def publish_offers(pub: Publisher, allocation, catalog) -> None:
    """Per-user offers, campaign summaries and audiences (sorted sets + a data hash per offer)."""
    v = pub.version
    a = allocation.assignments
    offers = {o.offer_id: o for o in catalog.offers}
    per_user: dict[str, dict] = {}
    for row in a.itertuples(index=False):
        entry = per_user.setdefault(row.user_id, {"holdout": False, "offers": []})
        if row.group == "holdout":
            entry["holdout"] = True
            continue
        o = offers[row.offer_id]
        entry["offers"].append(
            {
                "offer_id": o.offer_id,
                "title": o.title,
                "discount_pct": o.discount_pct,
                "expected_value": round(row.expected_value, 4),
                "items": list(row.items),
                "valid_from": o.valid_from.isoformat(),
                "valid_to": o.valid_to.isoformat(),
            }
        )
    pub.write(((keys.user_offers(v, u), keys.encode_obj(e)) for u, e in per_user.items()), "offers", len(per_user))
    summary = [c | {"holdout_pct": catalog.holdout_pct} for c in allocation.campaigns]
    pub.write([(keys.campaigns(v), keys.encode_obj(summary))], "campaigns")
    pipe = pub.client.pipeline(transaction=False)
    for (offer_id, group), part in a.groupby(["offer_id", "group"]):
        for chunk in _chunks(part["user_id"].tolist(), pub.batch):
            pipe.zadd(keys.audience(v, offer_id, group), dict.fromkeys(chunk, 0))
        data = {
            u: keys.encode_obj({"expected_value": round(ev, 4), "items": list(items)})
            for u, ev, items in zip(part["user_id"], part["expected_value"], part["items"])
        }
        for chunk in _chunks(list(data.items()), pub.batch):
            pipe.hset(keys.audience_data(v, offer_id), mapping=dict(chunk))
        pipe.execute()


def publish_result(
    result,
    url: str,
    keep: int = DEFAULT_KEEP,
    batch: int = BATCH,
    progress: bool = False,
    experiments: list[dict] | None = None,
) -> str:
    """Publish a `training.pipeline.RunResult`; returns the new active version."""
    import numpy as np

    client = connect(url)
    pub = Publisher(client, batch=batch, progress=progress)
    try:
        if experiments is not None:  # fail before anything is written when a pinned version is missing
            resolve_experiments(client, experiments, pub.version)
        pub.begin()
        v = pub.version
        cat = result.catalog[result.catalog["in_catalog"]]
        pub.write(
            [
                (
                    keys.catalog(v),
                    keys.encode_catalog(
                        cat["item_id"].tolist(),
                        cat["title"].tolist(),
                        cat["category"].tolist(),
                        cat["available"].tolist(),
                    ),
                )
            ],
            "catalog",
        )
        pub.write(
            (
                (keys.popular(v, c), keys.encode_list([i for i, _ in lst], [s for _, s in lst]))
                for c, lst in result.popular.items()
            ),
            "popular",
        )
        pub.write(
            (
                (keys.trending(v, c), keys.encode_list([i for i, _ in lst], [s for _, s in lst]))
                for c, lst in result.trending.items()
            ),
            "trending",
        )

        def lists(owners: np.ndarray, items: np.ndarray, scores: np.ndarray, key) -> Iterator[tuple[str, bytes]]:
            for owner, row, sc in zip(owners, items, scores):
                keep_mask = row != ""
                yield key(v, owner), keys.encode_list(row[keep_mask].tolist(), sc[keep_mask])

        pub.write(
            lists(result.user_ids, result.rec_items, result.rec_scores, keys.recs),
            "recommendations",
            len(result.user_ids),
        )
        pub.write(
            lists(result.item_ids, result.similar_items, result.similar_scores, keys.similar),
            "similar items",
            len(result.item_ids),
        )
        pub.write(
            ((keys.purchased(v, u), keys.encode_ids(items)) for u, items in result.purchased.items()),
            "purchases",
            len(result.purchased),
        )
        if result.customers is not None:
            publish_customers(pub, result.customers)
        if result.offers is not None:
            publish_offers(pub, result.offers, result.offer_catalog)
        report = result.report
        meta = {
            "version": v,
            "trained_at": datetime.now(UTC).isoformat(),
            "users": str(len(result.user_ids)),
            "items": str(int(result.catalog["in_catalog"].sum())),
            "metrics": keys.encode_json(report.get("evaluation", {}).get("models", {})),
            "config": keys.encode_json(report.get("config", {})),
        }
        version = pub.commit(meta, experiments)
    except redis.RedisError as exc:
        raise PublishError(f"publishing to Redis failed (the previous version stays active): {exc}") from exc
    removed = prune(client, keep)
    log.info("published version %s (%d writes); pruned %s", version, pub.commands, removed or "nothing")
    return version
