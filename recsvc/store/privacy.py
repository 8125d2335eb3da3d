"""What the service reads and writes for privacy: consent statements, erasures, their counts.

The work is done by the contract (`contract.consent`, `contract.erasure`), which the training job shares;
this wraps it in the service's failure policy and keeps the worker's own caches in step.
"""

from __future__ import annotations

import time

from contract import consent, erasure, keys, records
from recsvc.store.connection import RedisConnection
from recsvc.store.user_state import UserStates

SALT_RECHECK_S = 1.0


class PrivacyStore:
    def __init__(self, redis: RedisConnection, users: UserStates) -> None:
        self.redis = redis
        self.users = users
        self._salt: bytes | None = None  # never changes once created
        self._salt_checked = float("-inf")

    def erased_among(self, user_ids: set[str]) -> set[str]:
        """Which of these users were erased (no Redis call at all before the first erasure)."""
        if self._salt is None and time.monotonic() - self._salt_checked >= SALT_RECHECK_S:
            self._salt = self.redis.get(keys.PRIVACY_SALT)
            self._salt_checked = time.monotonic()
        if self._salt is None or not user_ids:
            return set()
        ids = sorted(user_ids)
        found = self.redis.round_trip(("HMGET", keys.SUPPRESSED, *[erasure.user_hash(self._salt, u) for u in ids]))[0]
        return {u for u, f in zip(ids, found) if f is not None}

    def consent(self, user_id: str) -> records.Consent | None:
        return records.decode(self.redis.get(keys.consent(user_id)), records.Consent)

    def consents(self, user_ids: list[str]) -> dict[str, records.Consent]:
        """The statements of these users (users without one left out), in one round trip."""
        if not user_ids:
            return {}
        blobs = self.redis.mget([keys.consent(u) for u in user_ids])  # one slot per user on a cluster
        return {u: records.decode(b, records.Consent) for u, b in zip(user_ids, blobs) if b}

    def record_consent(self, user_id: str, statement: records.Consent) -> tuple[bool, records.Consent]:
        applied, stored = self.redis.call(lambda: consent.record(self.redis.client, user_id, statement))
        self.users.forget([user_id])  # read-your-writes here; Redis invalidates the other workers
        return applied, stored

    def erase(self, user_ids: list[str], requested_by: str) -> list[erasure.Receipt]:
        receipts = self.redis.call(lambda: erasure.erase(self.redis.client, user_ids, requested_by))
        self.users.forget(user_ids)
        self.users.forget_lists(user_ids)
        return receipts

    def counts(self) -> dict[str, int]:
        client = self.redis.client
        return self.redis.call(lambda: erasure.counts(client) | consent.opt_out_counts(client))
