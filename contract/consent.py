"""Consent statements (profiling, marketing): stored per user, the latest statement wins.

The per-user key (`keys.consent`) is the truth: it is replaced only by a statement at least as recent
as the stored one, checked and written by one single-key script, so the service (PUT consent) and the
training job (the users file's `consent` column) can both record statements without undoing a newer
one, on one Redis or a cluster. `CONSENT_USERS` (who has a statement) and the `opted_out` sets (counts)
are derived from the stored statement right after; the requests never decide from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from contract import keys, records

# KEYS[1] the consent key; ARGV[1] the new statement (msgpack), ARGV[2] its stated_at. Keeps the stored
# statement when it is newer; answers {applied, the statement now stored}.
_SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cmsgpack.unpack, cur)
  if ok and type(old) == 'table' and tonumber(old['stated_at'] or 0) > tonumber(ARGV[2]) then
    return {0, cur}
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}
"""


def _script(client: redis.Redis):
    return client.register_script(_SET_IF_NEWER)


def _derive(pipe, user_id: str, stored: records.Consent) -> None:
    pipe.zadd(keys.CONSENT_USERS, {user_id: stored.stated_at})
    for purpose in keys.PURPOSES:
        if getattr(stored, purpose):
            pipe.srem(keys.opted_out(purpose), user_id)
        else:
            pipe.sadd(keys.opted_out(purpose), user_id)


def record(client: redis.Redis, user_id: str, statement: records.Consent) -> tuple[bool, records.Consent]:
    """Store the statement unless a newer one is stored; (applied, the statement in force)."""
    applied, blob = _script(client)(keys=[keys.consent(user_id)], args=[records.encode(statement), statement.stated_at])
    stored = records.decode(blob, records.Consent)
    pipe = client.pipeline(transaction=False)
    _derive(pipe, user_id, stored)
    pipe.execute()
    return bool(applied), stored


def record_many(client: redis.Redis, statements: Mapping[str, records.Consent], batch: int = 1000) -> int:
    """`record` for many users, pipelined in batches; returns how many were applied (newer than stored)."""
    script = _script(client)
    applied = 0
    items = list(statements.items())
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        pipe = client.pipeline(transaction=False)
        for user_id, s in chunk:
            script(keys=[keys.consent(user_id)], args=[records.encode(s), s.stated_at], client=pipe)
        replies = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for (user_id, _), (ok, blob) in zip(chunk, replies):
            applied += int(ok)
            _derive(pipe, user_id, records.decode(blob, records.Consent))
        pipe.execute()
    return applied


def read(client: redis.Redis, user_id: str) -> records.Consent | None:
    return records.decode(client.get(keys.consent(user_id)), records.Consent)


def read_many(client: redis.Redis, user_ids: Iterable[str]) -> dict[str, records.Consent]:
    """The stored statements of these users (users without one are left out), one GET each, pipelined."""
    ids = list(user_ids)
    pipe = client.pipeline(transaction=False)
    for u in ids:
        pipe.get(keys.consent(u))
    return {u: records.decode(b, records.Consent) for u, b in zip(ids, pipe.execute()) if b is not None}


def read_all(client: redis.Redis, batch: int = 5000) -> dict[str, records.Consent]:
    """Every stored statement (the training job merges them with the users file's)."""
    out: dict[str, records.Consent] = {}
    chunk: list[str] = []
    for member, _ in client.zscan_iter(keys.CONSENT_USERS, count=batch):
        chunk.append(member.decode() if isinstance(member, bytes) else member)
        if len(chunk) >= batch:
            out |= read_many(client, chunk)
            chunk = []
    if chunk:
        out |= read_many(client, chunk)
    return out


def opt_out_counts(client: redis.Redis) -> dict[str, int]:
    """How many customers' latest statement refuses each purpose, and how many made one at all."""
    pipe = client.pipeline(transaction=False)
    for purpose in keys.PURPOSES:
        pipe.scard(keys.opted_out(purpose))
    pipe.zcard(keys.CONSENT_USERS)
    *per_purpose, total = pipe.execute()
    return dict(zip(keys.PURPOSES, per_purpose)) | {"statements": total}
