"""GET /v1/users/<user_id>/recommendations: the user's cached hybrid list, filtered at request time."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from recsvc.api.lists import check_category, fallback_items, pick
from recsvc.api.params import category_param, exclude_param, int_param, path_id
from recsvc.metrics import CACHE_HIT, CACHE_MISS
from recsvc.store import NoActiveVersion, RedisDown

bp = Blueprint("recommendations", __name__)


@bp.get("/v1/users/<path:user_id>/recommendations")
def recommendations(user_id: str):
    path_id(user_id, "user_id")
    n = int_param("n", 10, 1, 100)
    category = category_param()
    exclude = exclude_param()
    store = current_app.extensions["store"]
    try:
        catalog = store.current()
        check_category(catalog, category)
        ranked, bought, segment = store.user_lists(catalog.version, user_id)
        skip = exclude | bought if bought else exclude
        popular = store.popular(catalog.version, category or "")
        if ranked is None:
            CACHE_MISS.inc()
            items = []
            if segment is not None:  # a known customer without a list: what their segment buys first
                pick(store.segment_popular(catalog.version, segment) or ([], []), catalog, n, category, skip, out=items)
            pick(popular, catalog, n, category, skip, out=items)
            source = "popular"
        else:
            CACHE_HIT.inc()
            items = pick(ranked, catalog, n, category, skip)
            if len(items) < n:  # filters left too few: fill from the (category) popular list
                pick(popular, catalog, n, category, skip, out=items)
            source = "personalized"
    except (RedisDown, NoActiveVersion):
        items, version = fallback_items(store.fallback("recommendations"), n, category, exclude)
        return jsonify({"user_id": user_id, "model_version": version, "source": "fallback", "items": items})
    return jsonify({"user_id": user_id, "model_version": catalog.version, "source": source, "items": items})
