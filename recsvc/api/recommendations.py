"""GET /v1/users/<user_id>/recommendations: the cached hybrid list, re-ranked by live events and filtered."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from recsvc.api.experiments import recommendation_id, variant_for
from recsvc.api.lists import check_category, fallback_items, pick
from recsvc.api.live import recent_interests, rerank
from recsvc.api.params import category_param, exclude_param, int_param, path_id
from recsvc.jsonio import json_response
from recsvc.metrics import CACHE_HIT, CACHE_MISS
from recsvc.store import NoActiveVersion, RedisDown

bp = Blueprint("recommendations", __name__)
FOR_YOU = "recommended for you"


@bp.get("/v1/users/<path:user_id>/recommendations")
def recommendations(user_id: str):
    path_id(user_id, "user_id")
    args = request.args
    n = int_param(args, "n", 10, 1, 100)
    category = category_param(args)
    exclude = exclude_param(args)
    store = current_app.extensions["store"]
    try:
        catalog = store.current()
        exp, variant = variant_for(store, user_id)
        if variant is not None and variant.get("version") and variant["version"] != catalog.version:
            catalog = store.catalog(variant["version"])  # the variant's pinned model version
        check_category(catalog, category)
        (recent, live_bought), (cached, bought, segment) = store.user_state(catalog.version, user_id)
        skip = exclude | bought | live_bought if (bought or live_bought) else exclude
        interests = recent_interests(recent) if recent else []
        if variant is not None and variant["model"] == "popularity":
            cached, interests, segment = None, [], None  # the popularity-only control
        if cached is not None:
            CACHE_HIT.inc()
            ranked, reasons = rerank(cached, interests, store, catalog) if interests else (cached, {})
            items = pick(ranked, catalog, n, category, skip, reason=reasons, default_reason=FOR_YOU)
            source = "personalized"
        elif interests:  # an anonymous session or a new sign-up: build from what they look at now
            CACHE_MISS.inc()
            ranked, reasons = rerank(None, interests, store, catalog)
            items = pick(ranked, catalog, n, category, skip, reason=reasons, default_reason=FOR_YOU)
            source = "session" if items else "popular"
        else:
            CACHE_MISS.inc()
            items = []
            if segment is not None:  # a known customer without a list: what their segment buys first
                pick(
                    store.segment_popular(catalog.version, segment) or ([], []),
                    catalog,
                    n,
                    category,
                    skip,
                    out=items,
                    reason="popular with customers like you",
                )
            source = "popular"
        if len(items) < n:  # filters left too few: fill from the (category) popular list
            pick(
                store.popular(catalog.version, category or ""),
                catalog,
                n,
                category,
                skip,
                out=items,
                reason="popular in {category}",
            )
    except (RedisDown, NoActiveVersion):
        items, version = fallback_items(store.fallback("recommendations"), n, category, exclude)
        return json_response({"user_id": user_id, "model_version": version, "source": "fallback", "items": items})
    return json_response(
        {
            "user_id": user_id,
            "model_version": catalog.version,
            "source": source,
            "items": items,
            "recommendation_id": recommendation_id(store, user_id, exp, variant),
            "experiment_id": exp["experiment_id"] if exp else None,
            "variant": variant["name"] if variant else None,
        }
    )
