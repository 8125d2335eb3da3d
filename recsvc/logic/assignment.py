"""Which experiment decides a user's recommendations now, and which variant the user is in.

A user's bucket is blake2b(experiment_id, user_id) mod 10,000, mapped onto the variants' cumulative
traffic split, so it is stable across requests, retrains and instances.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from contract.records import Experiment, Variant

BUCKETS = 10_000


def bucket(experiment_id: str, user_id: str) -> int:
    digest = hashlib.blake2b(f"{experiment_id}\x00{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assign(experiment_id: str, user_id: str, variants: list[Variant]) -> str:
    """The variant name for this user; the variants' traffic (percent) sums to 100."""
    b = bucket(experiment_id, user_id)
    edge = 0.0
    for v in variants:
        edge += v.traffic * BUCKETS / 100.0
        if b < edge:
            return v.name
    return variants[-1].name


def running_all(experiments: list[Experiment]) -> list[Experiment]:
    """The experiments running now, in configuration order."""
    if not experiments:
        return []  # no clock read on the hot path of a shop without experiments
    now = datetime.now(UTC).isoformat()
    return [e for e in experiments if e.status(now) == "running"]


def variant_for(experiments: list[Experiment], user_id: str) -> tuple[Experiment | None, Variant | None]:
    """The experiment deciding recommendations now (the first one running) and the user's variant in it."""
    found = running_all(experiments)
    if not found:
        return None, None
    exp = found[0]
    return exp, exp.variant(assign(exp.experiment_id, user_id, exp.variants))
