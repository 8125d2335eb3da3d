"""Trending, new arrivals, a user's recently viewed items, bought together and cart complements.

Every list goes through the live catalog (an unavailable or deleted item is never shown) and, except the
user's own history, through the business rules (recsvc/logic/ruled.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from contract import keys
from recsvc.errors import NotFound
from recsvc.logic.filtering import check_category, pick
from recsvc.logic.ruled import Source, finish
from recsvc.store import Catalog, Store

VIEWED = ("view", "click", "cart")  # what counts as having looked at an item


def trending(store: Store, n: int, category: str | None) -> dict:
    catalog = store.versions.current()
    check_category(catalog, category)
    ranked = store.merch.ranked(catalog.version, keys.trending(catalog.version, category or ""))
    items = finish(store, catalog, "trending", [(ranked, None, None)], n, category)
    return {"model_version": catalog.version, "category": category, "source": "trending", "items": items}


def new_arrivals(store: Store, n: int, category: str | None) -> dict:
    """Items added live (newest first), then the version's newest items (training/merchandising/catalog.py)."""
    catalog = store.versions.current()
    check_category(catalog, category)
    live = list(catalog.new_items)
    sources: list[Source] = [((live, [round(1.0 - k / max(len(live), 1), 4) for k in range(len(live))]), None, None)]
    sources.append(
        (store.merch.ranked(catalog.version, keys.new_arrivals(catalog.version, category or "")), None, None)
    )
    items = finish(store, catalog, "new_arrivals", sources, n, category)
    return {"model_version": catalog.version, "category": category, "source": "new_arrivals", "items": items}


def recently_viewed(store: Store, user_id: str, n: int, category: str | None) -> dict:
    """The distinct items the user looked at most recently (live events), newest first."""
    catalog = store.versions.current()
    check_category(catalog, category)
    (recent, _, consent), _ = store.users.get(catalog.version, user_id)
    if consent is not None and not consent.profiling:  # opted out of profiling: no history is shown
        recent = []
    ids: list[str] = []
    when: dict[str, float] = {}
    for event, item, ts in recent:
        if event in VIEWED and item not in when:
            when[item] = ts
            ids.append(item)
    scores = [round(1.0 - k / max(len(ids), 1), 4) for k in range(len(ids))]
    items = pick((ids, scores), catalog, n, category)
    for entry in items:
        entry["viewed_at"] = datetime.fromtimestamp(when[entry["item_id"]], UTC).isoformat().replace("+00:00", "Z")
    return {"user_id": user_id, "model_version": catalog.version, "source": "recently_viewed", "items": items}


def _known(catalog: Catalog, item_id: str) -> None:
    if item_id not in catalog.items or item_id in catalog.hidden:
        raise NotFound(f"unknown item '{item_id}'", code="unknown_item")


def bought_together(store: Store, item_id: str, n: int, category: str | None, user_id: str | None) -> dict:
    """What is most often in the same basket as the item, with support measures per entry."""
    catalog = store.versions.current()
    check_category(catalog, category)
    _known(catalog, item_id)
    skip = {item_id}
    if user_id is not None:
        (_, live_bought, _), (_, bought, _) = store.users.get(catalog.version, user_id)
        skip |= bought | live_bought
    fbt = store.merch.bought_together_many(catalog.version, [item_id])[0]
    title = catalog.items[item_id][0] or item_id
    ranked = (fbt.items, fbt.scores) if fbt is not None else ([], [])
    items = finish(
        store, catalog, "bought_together", [(ranked, f"often bought with {title}", None)], n, category, skip, user_id
    )
    if fbt is not None:
        at = {i: k for k, i in enumerate(fbt.items)}
        for entry in items:
            k = at.get(entry["item_id"])
            if k is not None:
                entry["baskets"], entry["confidence"] = fbt.baskets[k], round(fbt.confidence[k], 4)
                entry["lift"] = round(fbt.lift[k], 3)
    return {"item_id": item_id, "model_version": catalog.version, "source": "bought_together", "items": items}


def cart(store: Store, cart_items: list[str], n: int, category: str | None, user_id: str | None) -> dict:
    """Complements of a cart: each candidate's bought-together scores summed over the cart's items, the
    reason naming the cart item it goes with best; similar items of the cart fill what is missing."""
    catalog = store.versions.current()
    check_category(catalog, category)
    cart_items = list(dict.fromkeys(cart_items))
    skip = set(cart_items)
    if user_id is not None:
        (_, live_bought, _), (_, bought, _) = store.users.get(catalog.version, user_id)
        skip |= bought | live_bought
    known = [i for i in cart_items if i in catalog.items]
    total: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for source, fbt in zip(known, store.merch.bought_together_many(catalog.version, known)):
        if fbt is None:
            continue
        title = catalog.items[source][0] or source
        for item, score in zip(fbt.items, fbt.scores):
            total[item] = total.get(item, 0.0) + score
            if score > best.get(item, (0.0, ""))[0]:
                best[item] = (score, f"often bought with {title}")
    order = sorted(total, key=lambda i: (-total[i], i))
    sources: list[Source] = [((order, [round(total[i], 4) for i in order]), {i: best[i][1] for i in order}, None)]
    for source, sims in zip(known, store.reads.similar_many(catalog.version, known)):
        title = catalog.items[source][0] or source
        sources.append((sims or ([], []), f"similar to {title} in your cart", None))
    items = finish(store, catalog, "cart", sources, n, category, skip, user_id)
    return {"model_version": catalog.version, "source": "cart", "cart": cart_items, "items": items}
