"""Recommendation ids: which (experiment, variant, user, unix time) a list was served for.

An id carries a MAC, so the storefront cannot forge one and attribution needs no lookup: an event
with the id of another user, or older than the attribution window, is not attributed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from dataclasses import dataclass

import msgpack


@dataclass(frozen=True)
class RecommendationId:
    experiment_id: str
    variant: str
    user_id: str
    issued_at: int


def make_id(secret: bytes, rid: RecommendationId, nonce: int) -> str:
    payload = msgpack.packb([rid.experiment_id, rid.variant, rid.user_id, rid.issued_at, nonce])
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_mac(secret, body)}"


def issue(secret: bytes, user_id: str, experiment_id: str = "", variant: str = "") -> str:
    """A new id for a list served now (outside experiments: empty experiment and variant)."""
    rid = RecommendationId(experiment_id, variant, user_id, int(time.time()))
    # The nonce only keeps ids of the same second apart (the MAC makes them unforgeable): the process's
    # PRNG (reseeded in every forked worker) instead of os.urandom, whose syscall gives up the GIL and,
    # with busy sibling threads, waits up to a switch interval to get it back.
    return make_id(secret, rid, random.getrandbits(32))


def _mac(secret: bytes, body: str) -> str:
    # Keyed BLAKE2b (a MAC by design, RFC 7693): 4x faster than HMAC-SHA256 here, and hashlib keeps the
    # GIL for short inputs, where hmac.digest releases it on every call (a thread switch per request
    # under load).
    return hashlib.blake2b(body.encode(), key=secret[:64], digest_size=10).hexdigest()


def _legacy_mac(secret: bytes, body: str) -> str:
    """HMAC-SHA256 of ids issued before the switch to BLAKE2b: still accepted for their attribution window."""
    return hmac.digest(secret, body.encode(), "sha256").hex()[:20]


def read_id(secret: bytes, token: str) -> RecommendationId | None:
    """The id's content, or None when it is malformed or its signature does not match."""
    body, _, mac = token.partition(".")
    if not body or not mac:
        return None
    if not (hmac.compare_digest(mac, _mac(secret, body)) or hmac.compare_digest(mac, _legacy_mac(secret, body))):
        return None
    try:
        exp, variant, user, ts, _ = msgpack.unpackb(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    return RecommendationId(exp, variant, user, int(ts))
