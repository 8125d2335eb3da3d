"""Mutual exclusion of publishers: one lease in Redis, renewed while a publisher writes, checked at the switch.

A publisher takes the lease with `SET NX PX` and a token of its own (its version plus a random part),
renews it in a background thread while it writes, and releases it when done. A publisher that crashes
stops renewing, so its lease expires after `ttl_s` and the next publisher can go on. The final switch
WATCHes the lease key and compares the token (`fenced_transaction`): a publisher that lost its lease
(paused past the TTL, say) cannot make its version active. Clean-up deletes only the `writing` versions
whose owner no longer holds the lease (`contract.versions.cleanup_stale` asks `holder_version`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import redis

from contract import keys

DEFAULT_TTL_S = 30.0
# Compare-and-act scripts: renew or release only a lease that is still ours.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_SEPARATOR = "/"


class LeaseBusy(Exception):
    """Another publisher holds the lease (its version is `holder`)."""

    def __init__(self, holder: str | None, waited_s: float) -> None:
        self.holder = holder
        super().__init__(
            f"another publish (version {holder or 'unknown'}) holds the publish lease; waited {waited_s:g}s"
        )


class LeaseLost(Exception):
    """This publisher's lease expired or was taken over: it must not switch the active version."""


def _str(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def holder_version(client: redis.Redis) -> str | None:
    """The version whose publisher holds the lease now (None when nobody publishes)."""
    token = _str(client.get(keys.PUBLISH_LEASE))
    return token.split(_SEPARATOR, 1)[0] if token else None


class PublishLease:
    """The lease of one publisher writing `version`."""

    def __init__(self, client: redis.Redis, version: str, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.client = client
        self.version = version
        self.ttl_ms = max(100, int(ttl_s * 1000))
        self.token = f"{version}{_SEPARATOR}{uuid.uuid4().hex}"
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self, wait_s: float = 0.0, poll_s: float = 0.25) -> None:
        """Take the lease, waiting up to `wait_s` for another publisher to finish; LeaseBusy after that."""
        started = time.monotonic()
        while not self.client.set(keys.PUBLISH_LEASE, self.token, nx=True, px=self.ttl_ms):
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise LeaseBusy(holder_version(self.client), round(waited, 1))
            time.sleep(min(poll_s, max(0.01, wait_s - waited)))
        self._thread = threading.Thread(target=self._keep, name="publish-lease", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        period = self.ttl_ms / 3000.0
        while not self._stop.wait(period):
            try:
                if not self._renew(keys=[keys.PUBLISH_LEASE], args=[self.token, self.ttl_ms]):
                    self.lost = True
                    return
            except redis.RedisError:
                continue  # a blip: the next renewal (well inside the TTL) tries again; the fence decides

    def check(self) -> None:
        """LeaseLost when the renewal found the lease gone (writers call this between batches)."""
        if self.lost:
            raise LeaseLost(f"the publish lease of version {self.version} expired or was taken over")

    def verify(self) -> None:
        """LeaseLost unless Redis still holds this publisher's token (asks Redis, unlike `check`)."""
        self.check()
        if _str(self.client.get(keys.PUBLISH_LEASE)) != self.token:
            self.lost = True
            self.check()

    def fenced_transaction(self, build: Callable[[redis.client.Pipeline], None]) -> None:
        """Run `build`'s commands in one MULTI/EXEC that succeeds only while the lease is still ours.

        The lease key is WATCHed, so an expiry or a takeover between the check and EXEC aborts the
        transaction (Redis >= 6.0.9 counts an expiry as a change of a watched key).
        """
        self.check()
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.PUBLISH_LEASE)
                if _str(pipe.get(keys.PUBLISH_LEASE)) != self.token:
                    self.lost = True
                    self.check()
                pipe.multi()
                build(pipe)
                pipe.execute()
            except redis.WatchError:
                self.lost = True
                self.check()

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._release(keys=[keys.PUBLISH_LEASE], args=[self.token])
        except redis.RedisError:
            pass  # it expires by itself
