"""The Redis key schema and the encoding of published results.

Shared by the writer (training.publish) and the readers (recsvc.store): no other module builds a
key or decodes a value. Every result lives under a version namespace; one pointer names the active
version, so switching versions is a single atomic SET.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import msgpack
import numpy as np

PREFIX = "recsvc"
ACTIVE = f"{PREFIX}:active"  # string: the active version
VERSIONS = f"{PREFIX}:versions"  # sorted set: version -> publish start (unix seconds)
VERSION_STATE = f"{PREFIX}:version_state"  # hash: version -> "writing" | "complete"
WRITING = "writing"
COMPLETE = "complete"


def _v(version: str) -> str:
    return f"{PREFIX}:v:{version}"


def version_pattern(version: str) -> str:
    """SCAN pattern matching every key of one version."""
    return f"{_v(version)}:*"


def meta(version: str) -> str:
    """Hash: trained_at, published_at, metrics (JSON), counts."""
    return f"{_v(version)}:meta"


def catalog(version: str) -> str:
    """One blob: every showable item's title, category and availability."""
    return f"{_v(version)}:catalog"


def recs(version: str, user_id: str) -> str:
    return f"{_v(version)}:rec:{user_id}"


def purchased(version: str, user_id: str) -> str:
    return f"{_v(version)}:bought:{user_id}"


def similar(version: str, item_id: str) -> str:
    return f"{_v(version)}:sim:{item_id}"


def popular(version: str, category: str = "") -> str:
    """Popular list; category '' is the global list."""
    return f"{_v(version)}:pop:{category}"


def trending(version: str, category: str = "") -> str:
    return f"{_v(version)}:trend:{category}"


def profile(version: str, user_id: str) -> str:
    """msgpack dict: segment, cluster, lifecycle stage, RFM and CLV of one customer."""
    return f"{_v(version)}:profile:{user_id}"


def segments(version: str) -> str:
    """msgpack list of every segment: id, name, kind, size, description, mean_clv."""
    return f"{_v(version)}:segments"


def segment_members(version: str, segment_id: str) -> str:
    """Sorted set of user ids (all scores 0): lexicographic order gives stable cursor pages."""
    return f"{_v(version)}:members:{segment_id}"


def segment_popular(version: str, segment_id: str) -> str:
    return f"{_v(version)}:segpop:{segment_id}"


def user_offers(version: str, user_id: str) -> str:
    """msgpack {"holdout": bool, "offers": [...]} for users with at least one assignment."""
    return f"{_v(version)}:offers:{user_id}"


def campaigns(version: str) -> str:
    """msgpack list of campaign summaries (audience, holdout, expected cost, budget)."""
    return f"{_v(version)}:campaigns"


def audience(version: str, offer_id: str, group: str) -> str:
    """Sorted set of user ids of one offer's treatment or holdout group (lexicographic pages)."""
    return f"{_v(version)}:audience:{offer_id}:{group}"


def audience_data(version: str, offer_id: str) -> str:
    """Hash user id -> msgpack {expected_value, items}."""
    return f"{_v(version)}:audience_data:{offer_id}"


def outcomes(offer_id: str) -> str:
    """Hash user id -> msgpack outcome. Not versioned: outcomes outlive model versions."""
    return f"{PREFIX}:outcomes:{offer_id}"


EVENTS_STREAM = f"{PREFIX}:events"  # every ingested event, until `training export-events` drains it
RECENT_LENGTH = 50
RECENT_TTL_S = 30 * 86400
LIVE_BOUGHT_TTL_S = 180 * 86400


def recent(user_id: str) -> str:
    """List, newest first: msgpack [event, item_id, unix seconds] of the user's last RECENT_LENGTH events."""
    return f"{PREFIX}:recent:{user_id}"


def live_bought(user_id: str) -> str:
    """Set of items the user bought since they were last trained on (excluded from their answers)."""
    return f"{PREFIX}:live_bought:{user_id}"


LIVE_PREFIXES = (f"{PREFIX}:recent:", f"{PREFIX}:live_bought:")  # a user's live state: the keys above


def live_user(key: str) -> str | None:
    """The user id of a `recent` or `live_bought` key; None for any other key."""
    for prefix in LIVE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return None


EXPERIMENTS = f"{PREFIX}:experiments"  # msgpack list of experiments, variant versions resolved
EXPERIMENT_SECRET = f"{PREFIX}:experiment_secret"  # MAC key of recommendation ids
IMPRESSIONS_LENGTH = 200


def impressions(user_id: str) -> str:
    """List, newest first: msgpack [item_id, recommendation_id, unix seconds] of recent impressions."""
    return f"{PREFIX}:impressions:{user_id}"


def experiment_counter(experiment_id: str, variant: str, name: str) -> str:
    """Per variant: users (set), impressions and clicks (counters), converters (set), revenue (hash)."""
    return f"{PREFIX}:exp:{experiment_id}:{variant}:{name}"


def experiment_rejected(experiment_id: str) -> str:
    """Hash: reason -> events with a recommendation id that were not attributed."""
    return f"{PREFIX}:exp:{experiment_id}:rejected"


def distributions(version: str) -> str:
    """msgpack {"clv": {"edges", "counts"}, "p_alive": {...}}: histograms for the dashboard."""
    return f"{_v(version)}:distributions"


def encode_obj(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def decode_obj(blob: bytes | None) -> object:
    return None if blob is None else msgpack.unpackb(blob, raw=False)


def encode_list(item_ids: Sequence[str], scores: Sequence[float] | np.ndarray) -> bytes:
    """A ranked list as msgpack [ids, float32 scores as raw bytes]: compact and fast to decode."""
    return msgpack.packb([list(item_ids), np.asarray(scores, dtype="<f4").tobytes()], use_bin_type=True)


def decode_list(blob: bytes | None) -> tuple[list[str], list[float]] | None:
    """(ids, scores rounded to 4 decimals as Python floats), ready to serialise. Rounding all 100 here
    (numpy, once per decoded list) is cheaper than Python's round() on the ten a response shows."""
    if blob is None:
        return None
    ids, raw = msgpack.unpackb(blob, raw=False)
    return ids, np.round(np.frombuffer(raw, dtype="<f4").astype(np.float64), 4).tolist()


def encode_ids(item_ids: Sequence[str]) -> bytes:
    return msgpack.packb(list(item_ids), use_bin_type=True)


def decode_ids(blob: bytes | None) -> list[str]:
    return [] if blob is None else msgpack.unpackb(blob, raw=False)


def encode_catalog(
    item_ids: Sequence[str], titles: Sequence[str], categories: Sequence[str], available: Sequence[bool]
) -> bytes:
    """{item_id: [title, category, available]} for every item the lists may contain."""
    return msgpack.packb(
        {i: [t, c, bool(a)] for i, t, c, a in zip(item_ids, titles, categories, available)}, use_bin_type=True
    )


def decode_catalog(blob: bytes) -> dict[str, tuple[str, str, bool]]:
    return {k: (v[0], v[1], v[2]) for k, v in msgpack.unpackb(blob, raw=False).items()}


def encode_json(value: object) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))
