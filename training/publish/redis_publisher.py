"""Publish a run's results to Redis as one atomic, versioned step.

Everything is written under a fresh version namespace with pipelined bulk writes while the version
is marked 'writing' (on a Redis Cluster every master takes its share at once: bulk_writer.py); then
one MULTI/EXEC on the `{meta}` slot switches the active pointer and marks it 'complete'.
Readers never see a mix of versions, and a crash mid-publish leaves the previous version active. The
next publish deletes such stale partial versions, and older complete versions beyond `keep` go
(contract/versions.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import msgspec
import numpy as np
import redis
from redis.exceptions import RedisClusterException
from tqdm import tqdm

from contract import codecs, connection, keys, records, versions
from contract.publish_lock import DEFAULT_TTL_S as DEFAULT_LEASE_S
from contract.publish_lock import LeaseBusy, LeaseLost, PublishLease, holder_version
from contract.reasons import encode_reasons
from training.data.privacy import late_erasures
from training.failures import BadInputError, TrainingError
from training.publish import merchandising, quality_gate
from training.publish.bulk_writer import BulkWriter
from training.publish.indexed_lists import CatalogPositions
from training.publish.quality_gate import GateSettings, QualityGateError

log = logging.getLogger(__name__)
DEFAULT_KEEP = 3
BATCH = 2000
DEFAULT_WAIT_S = 300.0  # how long a publish waits for another one to finish before giving up (exit 4)


class PublishError(TrainingError):
    exit_code = 4


def connect(url: str) -> connection.Client:
    """One Redis or a cluster (`redis+cluster://HOST:PORT,...`), checked with a PING."""
    try:
        client = connection.connect(url, timeout=60, connect_timeout=5)
        client.ping()
    except connection.UrlError as exc:
        raise PublishError(f"--redis {exc}") from None
    except (redis.RedisError, RedisClusterException, ValueError) as exc:
        raise PublishError(f"cannot reach Redis at {connection.safe_url(url)}: {exc}") from exc
    return client


def activate(client: redis.Redis, version: str) -> None:
    """Make a complete version active (`versions activate`); an unknown or broken one is a bad argument."""
    try:
        versions.activate(client, version)
    except versions.VersionError as exc:
        raise BadInputError(str(exc)) from None


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Publisher:
    """Writes one version while holding the publish lease; `commit` makes it active atomically.

    `acquire` takes the lease (waiting for another publisher to finish), `begin` clears what failed
    publishes left and marks this version `writing`, `write` checks between batches that the lease is
    still held, `commit` switches only while it is (fenced), `abort` deletes what this publisher wrote
    and `release` gives the lease back.
    """

    def __init__(
        self, client: redis.Redis, batch: int = BATCH, progress: bool = False, lease_ttl_s: float = DEFAULT_LEASE_S
    ) -> None:
        self.client = client
        self.batch = batch
        self.progress = progress
        self.version = versions.new_version()
        self.commands = 0
        self.lease = PublishLease(client, self.version, lease_ttl_s)
        self.begun = False
        self.committed = False

    def acquire(self, wait_s: float = 0.0) -> None:
        holder = holder_version(self.client)
        if holder is not None:
            log.info("waiting up to %gs for the publish lease held by version %s", wait_s, holder)
        try:
            self.lease.acquire(wait_s)
        except LeaseBusy as exc:
            raise PublishError(f"{exc} (nothing was published; retry later or raise --publish-wait)") from None

    def begin(self) -> None:
        for v in versions.cleanup_stale(self.client):
            log.info("removed stale partial version %s", v)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.VERSION_STATE, self.version, keys.WRITING)
        pipe.zadd(keys.VERSIONS, {self.version: time.time()})
        pipe.execute()
        self.begun = True

    def execute(self, pipe: redis.client.Pipeline) -> None:
        """Send a batch, unless the lease was lost (then nothing more of this version is written)."""
        self.lease.check()
        pipe.execute()

    def write(self, pairs: Iterable[tuple[str, bytes | str]], desc: str, total: int | None = None) -> None:
        """SET key value for every pair, in batches, every node at once."""
        self.send((("SET", key, value) for key, value in pairs), desc, total)

    def send(self, commands: Iterable[tuple], desc: str, total: int | None = None) -> None:
        """Any commands (each routed by its first argument, the key), in batches, every node at once;
        the lease is checked before each batch goes out."""
        if self.progress:
            commands = tqdm(commands, desc=desc, total=total, leave=False)
        with BulkWriter(self.client, self.batch, before_batch=self.lease.check) as writer:
            writer.add_many(commands)
        self.commands += writer.commands

    def commit(self, meta: dict[str, str], experiments: list[records.Experiment] | None = None) -> str:
        """Switch readers to this version (and to the new experiments, when given) in one MULTI/EXEC that
        succeeds only while this publisher still holds the lease."""
        self.lease.verify()  # a lost lease explains missing keys: say that first
        if not self.client.exists(keys.catalog(self.version)):
            raise PublishError(f"version {self.version} lost its keys while being written; nothing was switched")
        self.client.hset(keys.meta(self.version), mapping=meta)
        versions.ensure_experiment_secret(self.client)
        resolved = resolve_experiments(self.client, experiments) if experiments is not None else None

        def switch(pipe: redis.client.Pipeline) -> None:
            pipe.set(keys.ACTIVE, self.version)
            pipe.hset(keys.VERSION_STATE, self.version, keys.COMPLETE)
            if resolved is not None:
                pipe.set(keys.EXPERIMENTS, records.encode(resolved))

        self.lease.fenced_transaction(switch)
        self.committed = True
        return self.version

    def abort(self) -> None:
        """Delete what this publisher wrote, unless it is already active (best effort: the next publish's
        clean-up does it otherwise)."""
        if self.begun and not self.committed:
            try:
                versions.delete_version(self.client, self.version)
            except redis.RedisError:
                log.warning("could not delete partial version %s; the next publish removes it", self.version)

    def release(self) -> None:
        self.lease.release()


def resolve_experiments(client: redis.Redis, experiments: list[records.Experiment]) -> list[records.Experiment]:
    """Pin `version:<id>` variants to that complete version. `current` variants are stored without one: the
    service serves them the active version at read time (contract.versions.follow_active), so a rollback
    moves them too."""
    out = []
    for e in experiments:
        variants = []
        for v in e.variants:
            version = None
            if v.model.startswith("version:"):
                version = v.model.split(":", 1)[1]
                if versions.state(client, version) != keys.COMPLETE:
                    raise PublishError(
                        f"experiment '{e.experiment_id}', variant '{v.name}': version "
                        f"'{version}' is not a complete published version"
                    )
            variants.append(msgspec.structs.replace(v, version=version))
        out.append(msgspec.structs.replace(e, variants=variants))
    return out


def _ranked(ranked: list[tuple[str, float]]) -> bytes:
    return codecs.encode_list([i for i, _ in ranked], [s for _, s in ranked])


def publish_customers(pub: Publisher, customers) -> None:
    """Profiles, the segment list, each segment's members (sorted sets) and popular items."""
    from training.segments.profiles import profile_record

    v = pub.version
    table = customers.profiles
    pub.write(
        ((keys.profile(v, str(u)), records.encode(profile_record(str(u), row))) for u, row in table.iterrows()),
        "profiles",
        len(table),
    )
    segments = msgspec.convert(customers.segments, list[records.Segment])
    pub.write([(keys.segments(v), records.encode(segments))], "segments")
    dist = msgspec.convert(customers.report.get("distributions", {}), records.Distributions)
    pub.write([(keys.distributions(v), records.encode(dist))], "distributions")
    pub.write(
        ((keys.segment_popular(v, sid), _ranked(lst)) for sid, lst in customers.segment_popular.items()),
        "segment popular",
    )
    pub.send(
        (
            _zadd(keys.segment_members(v, sid), chunk)
            for sid, users in customers.members.items()
            for chunk in _chunks(users, pub.batch)
        ),
        "segment members",
    )


def _zadd(key: str, members: list[str]) -> tuple:
    """ZADD of members with score 0 (lexicographic pages)."""
    return ("ZADD", key, *[x for m in members for x in (0, m)])


def publish_offers(pub: Publisher, allocation, catalog) -> None:
    """Per-user offers, campaign summaries and audiences (sorted sets + a data hash per offer)."""
    v = pub.version
    a = allocation.assignments
    offers = {o.offer_id: o for o in catalog.offers}
    per_user: dict[str, records.UserOffers] = {}
    for row in a.itertuples(index=False):
        entry = per_user.setdefault(row.user_id, records.UserOffers(offers=[]))
        if row.group == records.HOLDOUT:
            entry.holdout = True
            entry.holdout_offers.append(row.offer_id)
            continue
        o = offers[row.offer_id]
        entry.offers.append(
            records.AssignedOffer(
                offer_id=o.offer_id,
                title=o.title,
                discount_pct=o.discount_pct,
                expected_value=round(row.expected_value, 4),
                items=list(row.items),
                valid_from=o.valid_from.isoformat(),
                valid_to=o.valid_to.isoformat(),
                max_per_user=o.max_per_user,
            )
        )
    pub.write(((keys.user_offers(v, u), records.encode(e)) for u, e in per_user.items()), "offers", len(per_user))
    summary = msgspec.convert(
        [c | {"holdout_pct": catalog.holdout_pct} for c in allocation.campaigns], list[records.Campaign]
    )
    pub.write([(keys.campaigns(v), records.encode(summary))], "campaigns")
    commands: list[tuple] = []
    for (offer_id, group), part in a.groupby(["offer_id", "group"]):
        for chunk in _chunks(part["user_id"].tolist(), pub.batch):
            commands.append(_zadd(keys.audience(v, offer_id, group), chunk))
        data = {
            u: records.encode(records.AudienceMember(expected_value=round(ev, 4), items=list(items)))
            for u, ev, items in zip(part["user_id"], part["expected_value"], part["items"])
        }
        for chunk in _chunks(list(data.items()), pub.batch):
            commands.append(("HSET", keys.audience_data(v, offer_id), *[x for pair in chunk for x in pair]))
    pub.send(commands, "audiences")


def publish_result(
    result,
    url: str,
    keep: int = DEFAULT_KEEP,
    batch: int = BATCH,
    progress: bool = False,
    experiments: list[records.Experiment] | None = None,
    wait_s: float = DEFAULT_WAIT_S,
    lease_ttl_s: float = DEFAULT_LEASE_S,
    gate: GateSettings | None = None,
    force: bool = False,
) -> str:
    """Publish a `training.pipeline.RunResult`; returns the new active version.

    Holds the publish lease from before the first write until the version is active (or deleted again).
    With `gate`, the quality gate compares the run with the active version first: a failing gate writes
    nothing and raises `QualityGateError`, unless `force`.
    """
    client = connect(url)
    pub = Publisher(client, batch=batch, progress=progress, lease_ttl_s=lease_ttl_s)
    if experiments is not None:  # fail before anything is written when a pinned version is missing
        resolve_experiments(client, experiments)
    pub.acquire(wait_s)
    try:
        if gate is not None:
            verdict = quality_gate.evaluate(result, active_meta(client), gate)
            result.report.quality_gate = verdict.to_dict() | {"forced": force and not verdict.passed}
            if not verdict.passed:
                if not force:
                    raise QualityGateError(verdict.reason())
                log.warning("quality gate failed, published anyway (--force): %s", verdict.reason())
        pub.begin()
        _write_version(pub, result)
        late_erasures(client, pub.version, result)  # customers erased while this version was written stay erased
        version = pub.commit(_meta(pub.version, result), experiments)
        removed = versions.prune(client, keep)
        try:
            merchandising.after_switch(client, version, result.merchandising)
        except redis.RedisError as exc:
            raise PublishError(
                f"version {version} is active, but its rules or the catalog overlay were not updated: {exc}"
            ) from exc
    except LeaseLost as exc:
        pub.abort()
        raise PublishError(f"{exc}; this run's version was not activated (the active version is unchanged)") from None
    except (redis.RedisError, RedisClusterException) as exc:
        pub.abort()
        raise PublishError(f"publishing to Redis failed (the previous version stays active): {exc}") from exc
    except BaseException:
        pub.abort()
        raise
    finally:
        pub.release()
    log.info("published version %s (%d writes); pruned %s", version, pub.commands, removed or "nothing")
    return version


def active_meta(client: redis.Redis) -> dict | None:
    """The active version's meta hash (metrics and config decoded), None when nothing is active."""
    current = versions.active(client)
    if current is None:
        return None
    meta = {k.decode(): v.decode() for k, v in client.hgetall(keys.meta(current)).items()}
    for name in ("metrics", "config"):
        if name in meta:
            meta[name] = json.loads(meta[name])
    return meta | {"version": current}


def _meta(version: str, result) -> dict[str, str]:
    return {
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(),
        "users": str(len(result.user_ids)),
        "items": str(int(result.catalog["in_catalog"].sum())),
        "metrics": codecs.encode_json(result.report.model_metrics),
        "config": codecs.encode_json(result.report.config),
    }


LIST_CHUNK = 10_000  # rows encoded at once


def _users_subset(result, here: np.ndarray, elsewhere: set[str]):
    """The result's per-user lists without the users written elsewhere (everything else unchanged)."""
    import dataclasses

    names = ("user_ids", "rec_items", "rec_scores", "rec_reasons", "buy_again", "buy_again_scores", "rec_index")
    pick = {name: getattr(result, name)[here] for name in names if getattr(result, name, None) is not None}
    purchased = {u: v for u, v in result.purchased.items() if str(u) not in elsewhere}
    return dataclasses.replace(result, purchased=purchased, **pick)


def _write_version(pub: Publisher, result) -> None:
    v = pub.version
    cat = result.catalog[result.catalog["in_catalog"]]
    pub.write(
        [
            (
                keys.catalog(v),
                codecs.encode_catalog(
                    cat["item_id"].tolist(),
                    cat["title"].tolist(),
                    cat["category"].tolist(),
                    cat["available"].tolist(),
                ),
            )
        ],
        "catalog",
    )
    pub.write(((keys.popular(v, c), _ranked(lst)) for c, lst in result.popular.items()), "popular")
    pub.write(((keys.trending(v, c), _ranked(lst)) for c, lst in result.trending.items()), "trending")

    positions = CatalogPositions(result.catalog, result.item_ids)
    # Users whose lists an engine wrote itself (Spark's executors, into this version): skipped below.
    elsewhere = result.user_lists_writer(pub) if getattr(result, "user_lists_writer", None) else set()
    if elsewhere:
        result = _users_subset(result, np.array([str(u) not in elsewhere for u in result.user_ids]), elsewhere)

    def lists(owners: np.ndarray, items: np.ndarray, scores: np.ndarray, internal, key, bought=None):
        for start in range(0, len(owners), LIST_CHUNK):
            chunk = owners[start : start + LIST_CHUNK].tolist()
            rows = slice(start, start + LIST_CHUNK)
            # a user's purchases travel in their list's value: one key per user
            extra = None if bought is None else [bought.get(o, ()) for o in chunk]
            part = None if internal is None else internal[rows]
            yield from zip((key(v, o) for o in chunk), positions.lists(items[rows], scores[rows], extra, part))

    pub.write(
        lists(result.user_ids, result.rec_items, result.rec_scores, result.rec_index, keys.recs, result.purchased),
        "recommendations",
        len(result.user_ids),
    )
    with_lists = set(result.user_ids.tolist())
    pub.write(
        (
            (keys.recs(v, u), positions.bought_only(items))
            for u, items in result.purchased.items()
            if u not in with_lists
        ),
        "purchases without a list",
    )
    if result.rec_reasons is not None:  # the ranking stage's reasons and "order again" lists
        pub.write(
            (
                (keys.rec_reasons(v, u), encode_reasons([c for c in row if c]))
                for u, row in zip(result.user_ids, result.rec_reasons)
            ),
            "reasons",
            len(result.user_ids),
        )
    if result.buy_again is not None:
        pub.write(
            (
                (keys.buy_again(v, u), codecs.encode_list(row[row != ""].tolist(), sc[row != ""]))
                for u, row, sc in zip(result.user_ids, result.buy_again, result.buy_again_scores)
                if (row != "").any()
            ),
            "order again",
            len(result.user_ids),
        )
    pub.write(
        lists(result.item_ids, result.similar_items, result.similar_scores, result.similar_index, keys.similar),
        "similar items",
        len(result.item_ids),
    )
    if result.customers is not None:
        publish_customers(pub, result.customers)
    if result.offers is not None:
        publish_offers(pub, result.offers, result.offer_catalog)
    if result.merchandising is not None:
        merchandising.publish_version_part(pub, result.merchandising)
