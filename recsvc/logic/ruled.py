"""Finishing a list: ranked sources in, the answer's entries out, with the business rules when some apply.

Without rules this is `filtering.pick` over each source in turn (unchanged answers, no extra cost); with
rules the sources' first `rules.pool_size(n)` showable items become the candidates of `rules.apply`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from recsvc.logic import rules
from recsvc.logic.filtering import pick
from recsvc.store import Catalog, Ranked, Store

# (ranked list, reason: one text for all ("{category}" filled in) or a text per item, default reason)
Source = tuple[Ranked, str | Mapping[str, str] | None, str | None]


def list_rules(store: Store, catalog: Catalog, list_name: str) -> rules.ListRules | None:
    """The compiled rules of this list for this catalog view; None when no rule applies to it."""
    stored = store.versions.merch.rules
    if stored is None or not stored.rules:
        return None
    return rules.compiled_for(stored, catalog).for_list(list_name)


def candidates(sources: list[Source], catalog: Catalog, limit: int, category: str | None, skip: Collection[str]):
    """Up to `limit` showable (item, score, source index) from the sources in order, each item once."""
    allowed = catalog.available.get(category, frozenset())
    out: list[tuple[str, float, int]] = []
    taken: set[str] = set()
    for k, ((ids, scores), _, _) in enumerate(sources):
        for pos, item in enumerate(ids):
            if item in allowed and item not in skip and item not in taken:
                out.append((item, scores[pos], k))
                taken.add(item)
                if len(out) >= limit:
                    return out
    return out


def reason_for(sources: list[Source], catalog: Catalog):
    """The reason of an item that came from source k, as `filtering.pick` words it."""

    def reason_of(item: str, k: object) -> str | None:
        if not isinstance(k, int):  # a pinned item from outside the candidates
            return None
        reason, default = sources[k][1], sources[k][2]
        if reason is None or isinstance(reason, str):
            return reason.format(category=catalog.items[item][1]) if reason and "{" in reason else reason
        return reason.get(item, default)

    return reason_of


def finish(
    store: Store,
    catalog: Catalog,
    list_name: str,
    sources: list[Source],
    n: int,
    category: str | None,
    skip: Collection[str] = (),
    user_id: str | None = None,
    lr: rules.ListRules | None = None,
    use_rules: bool = True,
) -> list[dict]:
    if use_rules and lr is None:
        lr = list_rules(store, catalog, list_name)
    if lr is None:
        items: list[dict] = []
        for ranked, reason, default in sources:
            pick(ranked, catalog, n, category, skip, out=items, reason=reason, default_reason=default)
            if len(items) >= n:
                break
        return items
    segments: frozenset[str] = frozenset()
    if lr.needs_segments and user_id:
        known = store.users.segments(catalog.version, user_id)
        segments = known if known is not None else store.merch.user_segments(catalog.version, user_id)
    pool = candidates(sources, catalog, rules.pool_size(n), category, skip)
    return rules.apply(lr, pool, catalog, n, category, skip, segments, reason_for(sources, catalog))
