"""Request-time filtering of ranked lists, shared by the list endpoints."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from recsvc.errors import BadRequest
from recsvc.store import Catalog, Ranked, Snapshot


def check_category(catalog: Catalog, category: str | None) -> None:
    if category is not None and category not in catalog.categories:
        raise BadRequest(f"unknown category '{category}'", code="unknown_category")


def pick(
    ranked: Ranked,
    catalog: Catalog,
    n: int,
    category: str | None = None,
    skip: Collection[str] = (),
    out: list[dict] | None = None,
    reason: str | Mapping[str, str] | None = None,
    default_reason: str | None = None,
) -> list[dict]:
    """Append up to n items from `ranked` that are in the catalog, available, in `category` and not in `skip`.

    `reason` explains each item: one text for all ("{category}" is filled in), or a text per item
    with `default_reason` for the rest; None adds no reason.
    """
    out = [] if out is None else out
    room = n - len(out)
    if room <= 0:
        return out
    taken = {entry["item_id"] for entry in out}
    allowed = catalog.available.get(category, frozenset())  # available, in the category
    items = catalog.items
    ids, scores = ranked
    for pos, item_id in enumerate(ids):
        if item_id not in allowed or item_id in skip or item_id in taken:
            continue
        title, cat, _ = items[item_id]
        entry = {"item_id": item_id, "score": scores[pos], "title": title, "category": cat}
        if reason is not None:
            if isinstance(reason, str):
                entry["reason"] = reason.format(category=cat) if "{" in reason else reason
            else:
                entry["reason"] = reason.get(item_id, default_reason)
        out.append(entry)
        room -= 1
        if room == 0:
            break
        taken.add(item_id)
    return out


def fallback_items(
    snap: Snapshot | None, n: int, category: str | None, skip: Collection[str] = ()
) -> tuple[list[dict], str | None]:
    """Popular items (of `category`) from the in-process snapshot, and its version; empty without one."""
    if snap is None:
        return [], None
    check_category(snap.catalog, category)
    return pick(snap.popular.get(category or "", ([], [])), snap.catalog, n, category, skip), snap.catalog.version
