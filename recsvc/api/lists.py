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
    taken = {entry["item_id"] for entry in out}
    items = catalog.items
    ids, scores = ranked
    room = n - len(out)
    for pos, item_id in enumerate(ids):
        if room <= 0:
            break
        if item_id in skip or item_id in taken:
            continue
        info = items.get(item_id)
        if info is None or not info[2] or (category is not None and info[1] != category):
            continue
        entry = {"item_id": item_id, "score": scores[pos], "title": info[0], "category": info[1]}
        if reason is not None:
            if isinstance(reason, str):
                entry["reason"] = reason.format(category=info[1]) if "{" in reason else reason
            else:
                entry["reason"] = reason.get(item_id, default_reason)
        out.append(entry)
        taken.add(item_id)
        room -= 1
    return out


def fallback_items(
    snap: Snapshot | None, n: int, category: str | None, skip: Collection[str] = ()
) -> tuple[list[dict], str | None]:
    """Popular items (of `category`) from the in-process snapshot, and its version; empty without one."""
    if snap is None:
        return [], None
    check_category(snap.catalog, category)
    return pick(snap.popular.get(category or "", ([], [])), snap.catalog, n, category, skip), snap.catalog.version
