"""Publishing what merchandising needs: per version (attributes, content index, new arrivals, bought
together, the rules file), then after the switch the rules become active and the live catalog overlay
drops the changes every kept version has superseded."""

from __future__ import annotations

import logging
import time

import redis

from contract import codecs, keys, records
from contract.rules import encode_stored
from training.merchandising.build import Merchandising

log = logging.getLogger(__name__)

# Delete overlay fields whose value is still the one we read (a change written meanwhile stays).
_SETTLE = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
if n > 0 then redis.call('INCR', KEYS[2]) end
return n
"""


def _ranked(ranked: list[tuple[str, float]]) -> bytes:
    return codecs.encode_list([i for i, _ in ranked], [s for _, s in ranked])


def publish_version_part(pub, m: Merchandising) -> None:
    """Written under the new version with the rest of it (before the switch); `pub` is a Publisher."""
    v = pub.version
    pub.write([(keys.item_attributes(v), records.encode(m.attributes))], "item attributes")
    if m.content_index is not None:
        pub.write([(keys.content_index(v), m.content_index)], "content index")
    pub.write(((keys.new_arrivals(v, c), _ranked(lst)) for c, lst in m.new_arrivals.items()), "new arrivals")
    lists = m.bought_together.lists()
    pub.write(
        (
            (
                keys.bought_together(v, item),
                records.encode(records.BoughtTogether(items=ids, scores=sc, baskets=nb, confidence=cf, lift=lf)),
            )
            for item, (ids, sc, nb, cf, lf) in lists.items()
        ),
        "bought together",
        len(lists),
    )
    if m.rules is not None:
        pub.write([(keys.version_rules(v), encode_stored(m.rules, m.rules_source, time.time()))], "rules")


def after_switch(client: redis.Redis, version: str, m: Merchandising | None) -> dict[str, int]:
    """Make the version's rules (when it has some) the active ones, and settle the catalog overlay."""
    if m is not None and m.rules is not None:
        pipe = client.pipeline(transaction=True)
        pipe.set(keys.RULES, encode_stored(m.rules, f"{m.rules_source}, published with version {version}", time.time()))
        pipe.incr(keys.MERCH_SEQ)
        pipe.execute()
    return {"overlay_entries_dropped": settle_overlay(client)}


def _catalog_as_of(client: redis.Redis, version: str) -> float:
    attrs = records.decode(client.get(keys.item_attributes(version)), records.CatalogAttributes)
    return (attrs.catalog_as_of or 0.0) if attrs is not None else 0.0


def settle_overlay(client: redis.Redis) -> int:
    """Drop live changes that every complete version still kept has superseded: changes older than the
    oldest kept version's catalog (a rollback must still see a change its version does not hold).
    Hidden items (DELETE) are never dropped: a retrain does not resurrect them; a PUT does."""
    kept = [v for v in map(bytes.decode, client.zrange(keys.VERSIONS, 0, -1)) if _state(client, v) == keys.COMPLETE]
    if not kept:
        return 0
    horizon = min(_catalog_as_of(client, v) for v in kept)
    overlay = client.hgetall(keys.CATALOG_OVERLAY)
    args: list[bytes] = []
    for item, blob in overlay.items():
        change = records.decode(blob, records.ItemChange)
        if not change.hidden and change.updated_at <= horizon:
            args += [item, blob]
    if not args:
        return 0
    dropped = int(client.eval(_SETTLE, 2, keys.CATALOG_OVERLAY, keys.MERCH_SEQ, *args))
    log.info("catalog overlay: dropped %d changes the published versions include", dropped)
    return dropped


def _state(client: redis.Redis, version: str) -> str | None:
    raw = client.hget(keys.VERSION_STATE, version)
    return raw.decode() if raw else None
