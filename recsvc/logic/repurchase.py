"""Live purchases and repurchase: an item bought since the last training is left out of a customer's
lists until its typical repurchase interval (published per item, `ItemAttributes.repurchase_days`) has
passed since that purchase. Items nobody buys twice (no interval) stay out until the next training,
which learns from the purchase itself."""

from __future__ import annotations

import time
from collections.abc import Collection

from recsvc.store import Catalog

DAY_S = 86400.0


def not_due(
    live_bought: Collection[str], recent: list[tuple[str, str, float]], catalog: Catalog, now: float | None = None
) -> frozenset[str]:
    """The live purchases not due again yet (`recent`: the user's latest events, newest first)."""
    if not live_bought:
        return frozenset()
    now = time.time() if now is None else now
    last: dict[str, float] = {}
    for event, item, ts in recent:
        if event == "purchase" and item not in last:
            last[item] = ts
    attrs = catalog.attributes
    out = set()
    for item in live_bought:
        interval = attrs[item].repurchase_days if item in attrs else None
        when = last.get(item)  # older than the recent events kept: no time to compare with
        if interval is None or when is None or now - when < interval * DAY_S:
            out.add(item)
    return frozenset(out)
