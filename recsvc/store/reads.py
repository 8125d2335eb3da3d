"""Reads of published results and of the counters the service keeps (outcomes, experiments)."""

from __future__ import annotations

import json
import threading

from cachetools import LRUCache

from contract import codecs, keys, records
from recsvc.store.connection import RedisConnection
from recsvc.store.snapshot import Ranked, VersionView


def _pairs(reply: dict | list) -> dict:
    """An HGETALL reply as a dict (RESP3 sends a map, RESP2 key, value, key, value, ...)."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


class PublishedReads:
    """Every call is one round trip to one slot (several slots, all masters at once, where it says so)."""

    def __init__(self, redis: RedisConnection, versions: VersionView) -> None:
        self.redis = redis
        self.versions = versions
        self._lock = threading.Lock()
        self._similar: LRUCache = LRUCache(maxsize=20_000)

    # -- item lists ---------------------------------------------------------------------------------------
    def similar_many(self, version: str, item_ids: list[str]) -> list[Ranked | None]:
        """Similar-item lists of several items; immutable per version, so they are cached in-process."""
        out: list[Ranked | None] = [None] * len(item_ids)
        missing = []
        with self._lock:  # an LRU read reorders it: not safe beside other threads' writes
            for k, item in enumerate(item_ids):
                hit = self._similar.get((version, item))
                if hit is not None:
                    out[k] = hit
                else:
                    missing.append(k)
        if missing:
            blobs = self.redis.mget([keys.similar(version, item_ids[k]) for k in missing])  # every slot
            ids = self.versions.catalog(version).ids
            with self._lock:
                for k, blob in zip(missing, blobs):
                    out[k] = codecs.decode_indexed(blob, ids) or ([], [])
                    self._similar[(version, item_ids[k])] = out[k]
        return out

    def similar(self, version: str, item_id: str) -> Ranked | None:
        return codecs.decode_indexed(self.redis.get(keys.similar(version, item_id)), self.versions.catalog(version).ids)

    def buy_again(self, version: str, user_id: str) -> Ranked | None:
        """The user's own past purchases in the ranking stage's order ("order again"), None without one."""
        return codecs.decode_list(self.redis.get(keys.buy_again(version, user_id)))

    def segment_popular(self, version: str, segment_id: str) -> Ranked | None:
        return codecs.decode_list(self.redis.get(keys.segment_popular(version, segment_id)))

    # -- customers and segments ---------------------------------------------------------------------------
    def profile(self, version: str, user_id: str) -> records.Profile | None:
        return records.decode(self.redis.get(keys.profile(version, user_id)), records.Profile)

    def segments(self, version: str) -> list[records.Segment]:
        return records.decode(self.redis.get(keys.segments(version)), list[records.Segment]) or []

    def distributions(self, version: str) -> records.Distributions:
        blob = self.redis.get(keys.distributions(version))
        return records.decode(blob, records.Distributions) or records.Distributions()

    def segment_page(self, version: str, segment_id: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` member ids after `after` in lexicographic order, and whether more follow."""
        raw = self._lex_page(keys.segment_members(version, segment_id), after, limit)
        ids = [r.decode() for r in raw]
        return ids[:limit], len(ids) > limit

    def _lex_page(self, key: str, after: str | None, limit: int) -> list[bytes]:
        low = f"({after}" if after is not None else "-"
        return self.redis.round_trip(("ZRANGEBYLEX", key, low, "+", "LIMIT", 0, limit + 1))[0]

    # -- offers and campaigns -----------------------------------------------------------------------------
    def user_offers(self, version: str, user_id: str) -> records.UserOffers | None:
        return records.decode(self.redis.get(keys.user_offers(version, user_id)), records.UserOffers)

    def campaigns(self, version: str) -> list[records.Campaign]:
        return records.decode(self.redis.get(keys.campaigns(version)), list[records.Campaign]) or []

    def audience_page(
        self, version: str, offer_id: str, group: str, after: str | None, limit: int
    ) -> tuple[list[tuple[str, records.AudienceMember]], bool]:
        """Up to `limit` (user id, data) of a group after `after`, in user-id order, and whether more follow."""
        raw = self._lex_page(keys.audience(version, offer_id, group), after, limit)
        users = [r.decode() for r in raw[:limit]]
        data = self.redis.round_trip(("HMGET", keys.audience_data(version, offer_id), *users))[0] if users else []
        empty = records.AudienceMember(expected_value=0.0, items=[])
        members = [(u, records.decode(d, records.AudienceMember) or empty) for u, d in zip(users, data)]
        return members, len(raw) > limit

    def audience_group(self, version: str, offer_id: str, user_ids: list[str]) -> list[str | None]:
        """The audience group of each user (None outside the audience), in one round trip."""
        if not user_ids:
            return []
        flags = self.redis.round_trip(
            *[("ZSCORE", keys.audience(version, offer_id, g), u) for u in user_ids for g in records.AUDIENCE_GROUPS]
        )
        n = len(records.AUDIENCE_GROUPS)
        return [
            next((g for g, f in zip(records.AUDIENCE_GROUPS, flags[k : k + n]) if f is not None), None)
            for k in range(0, len(flags), n)
        ]

    def audience_sizes(self, version: str, offer_id: str) -> dict[str, int]:
        sizes = self.redis.round_trip(
            *[("ZCARD", keys.audience(version, offer_id, g)) for g in records.AUDIENCE_GROUPS]
        )
        return dict(zip(records.AUDIENCE_GROUPS, sizes))

    def outcomes(self, offer_id: str) -> list[records.Outcome]:
        raw = _pairs(self.redis.round_trip(("HGETALL", keys.outcomes(offer_id)))[0])
        return [records.decode(v, records.Outcome) for v in raw.values()]

    # -- experiments --------------------------------------------------------------------------------------
    def impressions(self, user_ids: list[str]) -> dict[str, list[tuple[str, str, float]]]:
        """Each user's recent impressions (item, recommendation id, unix seconds), newest first."""
        if not user_ids:
            return {}
        rows = [  # one slot per user: all masters at once on a cluster
            r[0]
            for r in self.redis.round_trip_groups(
                [[("LRANGE", keys.impressions(u), 0, keys.IMPRESSIONS_LENGTH - 1)] for u in user_ids]
            )
        ]
        return {u: [records.decode(x, records.Impression) for x in r] for u, r in zip(user_ids, rows)}

    def experiment_counts(self, experiment_id: str, variants: list[str]) -> dict[str, dict]:
        """Exposed users, impressions, clicks, converters and per-user revenue of each variant (one slot)."""
        commands: list[tuple] = []
        for v in variants:
            commands += [
                ("SCARD", keys.experiment_counter(experiment_id, v, "users")),
                ("GET", keys.experiment_counter(experiment_id, v, "impressions")),
                ("GET", keys.experiment_counter(experiment_id, v, "clicks")),
                ("SCARD", keys.experiment_counter(experiment_id, v, "converters")),
                ("HVALS", keys.experiment_counter(experiment_id, v, "revenue")),
            ]
        raw = self.redis.round_trip(*commands, ("HGETALL", keys.experiment_rejected(experiment_id)))
        out = {}
        for k, v in enumerate(variants):
            users, imps, clicks, conv, revenue = raw[5 * k : 5 * k + 5]
            out[v] = {
                "users": int(users),
                "impressions": int(imps or 0),
                "clicks": int(clicks or 0),
                "conversions": int(conv),
                "revenue": [float(x) for x in revenue],
            }
        out["_rejected"] = {k.decode(): int(x) for k, x in _pairs(raw[-1]).items()}
        return out

    # -- versions -----------------------------------------------------------------------------------------
    def is_published(self, version: str) -> bool:
        """Whether the version is still a complete published one (not pruned, not partial)."""
        state = self.redis.call(lambda: self.redis.client.hget(keys.VERSION_STATE, version))
        return state == keys.COMPLETE.encode()

    def version_history(self) -> list[dict]:
        """Complete versions, oldest first, each with its metadata (metrics decoded)."""
        raw, states = self.redis.round_trip(("ZRANGE", keys.VERSIONS, 0, -1), ("HGETALL", keys.VERSION_STATE))
        states = _pairs(states)
        done = [v.decode() for v in raw if states.get(v) == keys.COMPLETE.encode()]
        return [{"version": v} | self.meta(v) for v in done]

    def meta(self, version: str) -> dict:
        raw = _pairs(self.redis.round_trip(("HGETALL", keys.meta(version)))[0])
        meta = {k.decode(): v.decode() for k, v in raw.items()}
        for field_name in ("metrics", "config"):
            if field_name in meta:
                meta[field_name] = json.loads(meta[field_name])
        return meta
