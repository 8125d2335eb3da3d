"""What the list endpoints answer: a user's recommendations, an item's similar items, popular lists.

Each function returns the JSON body. When Redis is away (or nothing is published yet) they answer from
the worker's fallback snapshot with `source: "fallback"`.
"""

from __future__ import annotations

from collections import ChainMap

from contract.rules import StoredRules
from recsvc.errors import NotFound
from recsvc.logic.assignment import variant_for
from recsvc.logic.content_similar import content_similar
from recsvc.logic.filtering import check_category, fallback_items, pick
from recsvc.logic.live_rerank import recent_interests, rerank
from recsvc.logic.reasons import ReasonTexts
from recsvc.logic.recommendation_ids import issue
from recsvc.logic.repurchase import not_due
from recsvc.logic.ruled import Source, finish
from recsvc.logic.rules import compiled_for
from recsvc.store import NoActiveVersion, RedisDown, Store
from recsvc.telemetry import CACHE_HIT, CACHE_MISS

FOR_YOU = "recommended for you"


ACTIVE_RULES = None  # `ruleset` default: the rules active now


def recommendations(
    store: Store,
    user_id: str,
    n: int,
    category: str | None,
    exclude: set[str],
    ruleset: StoredRules | None | bool = ACTIVE_RULES,
) -> dict:
    """The user's cached list, re-ranked by live events and filtered; popular items fill what is missing.

    `ruleset`: the business rules to apply (the active ones by default; False: none; a StoredRules: that
    set instead, as the rules dry run asks)."""
    try:
        catalog = store.versions.current()
        exp, variant = variant_for(store.versions.experiments(), user_id)
        if variant is not None and variant.version and variant.version != catalog.version:
            catalog = store.versions.catalog(variant.version)  # the variant's pinned model version
        check_category(catalog, category)
        (recent, live_bought, consent), (cached, bought, segment) = store.users.get(catalog.version, user_id)
        # Purchases since training stay out until they are due again (recsvc/logic/repurchase.py).
        skip = exclude | bought | not_due(live_bought, recent, catalog) if (bought or live_bought) else exclude
        interests = recent_interests(recent) if recent else []
        if variant is not None and variant.model == "popularity":
            cached, interests, segment = None, [], None  # the popularity-only control
        if consent is not None and not consent.profiling:  # opted out: what an anonymous visitor gets
            cached, interests, segment, skip = None, [], None, exclude
        sources: list[Source] = []
        if cached is not None:
            CACHE_HIT.inc()
            published = ReasonTexts(getattr(cached, "reasons", {}), catalog)  # "buy again", "bought with X"...
            if interests:
                ranked, live_reasons = rerank(cached, interests, store.reads, catalog)
                reasons = ChainMap(live_reasons, published)
            else:
                ranked, reasons = cached, published
            sources.append((ranked, reasons, FOR_YOU))
            source = "personalized"
        elif interests:  # an anonymous session or a new sign-up: build from what they look at now
            CACHE_MISS.inc()
            ranked, reasons = rerank(None, interests, store.reads, catalog)
            sources.append((ranked, reasons, FOR_YOU))
            source = "session" if _any_showable(ranked, catalog, category, skip) else "popular"
        else:
            CACHE_MISS.inc()
            if segment is not None:  # a known customer without a list: what their segment buys first
                segment_list = store.reads.segment_popular(catalog.version, segment) or ([], [])
                sources.append((segment_list, "popular with customers like you", None))
            source = "popular"
        # filters (and rules) may leave too few: fill from the (category) popular list
        sources.append((store.versions.popular(catalog.version, category or ""), "popular in {category}", None))
        lr, use = None, ruleset is not False
        if isinstance(ruleset, StoredRules):
            lr = compiled_for(ruleset, catalog).for_list("recommendations")
            use = lr is not None
        items = finish(store, catalog, "recommendations", sources, n, category, skip, user_id, lr, use)
    except (RedisDown, NoActiveVersion):
        items, version = fallback_items(store.versions.fallback("recommendations"), n, category, exclude)
        # The same keys as a personalized answer: no recommendation id and no experiment without Redis.
        return {
            "user_id": user_id,
            "model_version": version,
            "source": "fallback",
            "items": items,
            "recommendation_id": None,
            "experiment_id": None,
            "variant": None,
        }
    return {
        "user_id": user_id,
        "model_version": catalog.version,
        "source": source,
        "items": items,
        "recommendation_id": issue(
            store.versions.secret(), user_id, exp.experiment_id if exp else "", variant.name if variant else ""
        ),
        "experiment_id": exp.experiment_id if exp else None,
        "variant": variant.name if variant else None,
    }


def buy_again(store: Store, user_id: str, n: int, category: str | None, exclude: set[str]) -> dict:
    """The customer's own past purchases worth buying again, best first ("order again" widgets): the
    published list without purchases made since training that are not due again, unavailable items,
    `exclude` and other categories. Nothing for unknown customers and for those opted out of profiling."""
    try:
        catalog = store.versions.current()
        check_category(catalog, category)
        (recent, live_bought, consent), _ = store.users.get(catalog.version, user_id)
        items: list[dict] = []
        source = "none"
        if consent is None or consent.profiling:
            ranked = store.reads.buy_again(catalog.version, user_id)
            if ranked is not None:
                skip = exclude | not_due(live_bought, recent, catalog)
                items = pick(ranked, catalog, n, category, skip, reason="buy again")
                source = "buy_again"
    except (RedisDown, NoActiveVersion):
        snap = store.versions.fallback("buy_again")
        version = snap.catalog.version if snap is not None else None
        return {"user_id": user_id, "model_version": version, "source": "fallback", "items": []}
    return {"user_id": user_id, "model_version": catalog.version, "source": source, "items": items}


def _any_showable(ranked, catalog, category: str | None, skip) -> bool:
    allowed = catalog.available.get(category, frozenset())
    return any(i in allowed and i not in skip for i in ranked[0])


def similar_items(store: Store, item_id: str, n: int, category: str | None, user_id: str | None) -> dict:
    """The item's similar items; with `user_id`, without what that user bought (up to the last second)."""
    try:
        catalog = store.versions.current()
        check_category(catalog, category)
        if item_id not in catalog.items or item_id in catalog.hidden:
            raise NotFound(f"unknown item '{item_id}'", code="unknown_item")
        skip = {item_id}
        if user_id is not None:
            (_, live_bought, _), (_, bought, _) = store.users.get(catalog.version, user_id)
            skip |= bought | live_bought
        ranked = store.reads.similar(catalog.version, item_id) or ([], [])
        if not ranked[0]:  # an item added live (or without a published list): its text's neighbours
            ranked = content_similar(store, catalog, item_id)
        # A version keeps --similar-n (20) per item; larger n are topped up with what sells in the item's
        # category (or the asked one), then anywhere.
        fills = [category] if category else [catalog.items[item_id][1], ""]
        sources: list[Source] = [(ranked, None, None)]
        sources += [(store.versions.popular(catalog.version, f), "popular in {category}", None) for f in fills]
        items = finish(store, catalog, "similar", sources, n, category, skip, user_id)
    except (RedisDown, NoActiveVersion):
        snap = store.versions.fallback("similar")
        if snap is not None and item_id not in snap.catalog.items:
            raise NotFound(f"unknown item '{item_id}'", code="unknown_item") from None
        # Without Redis: popular items of the item's own category (or the asked one).
        cat = category or (snap.catalog.items[item_id][1] if snap is not None else None)
        items, version = fallback_items(snap, n, cat, skip={item_id})
        return {"item_id": item_id, "model_version": version, "source": "fallback", "items": items}
    return {"item_id": item_id, "model_version": catalog.version, "source": "similar", "items": items}


def popular(store: Store, n: int, category: str | None) -> dict:
    try:
        catalog = store.versions.current()
        check_category(catalog, category)
        ranked = store.versions.popular(catalog.version, category or "")
        items = finish(store, catalog, "popular", [(ranked, None, None)], n, category)
        return {"model_version": catalog.version, "category": category, "source": "popular", "items": items}
    except (RedisDown, NoActiveVersion):
        items, version = fallback_items(store.versions.fallback("popular"), n, category)
        return {"model_version": version, "category": category, "source": "fallback", "items": items}
