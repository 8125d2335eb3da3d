"""GET /v1/items/<item_id>/similar and GET /v1/popular."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from recsvc.api.lists import check_category, fallback_items, pick
from recsvc.api.params import category_param, int_param, path_id
from recsvc.errors import NotFound
from recsvc.jsonio import json_response
from recsvc.store import NoActiveVersion, RedisDown

bp = Blueprint("items", __name__)


@bp.get("/v1/items/<path:item_id>/similar")
def similar(item_id: str):
    path_id(item_id, "item_id")
    args = request.args
    n = int_param(args, "n", 10, 1, 100)
    category = category_param(args)
    user_id = args.get("user_id")
    if user_id is not None:
        path_id(user_id, "user_id")
    store = current_app.extensions["store"]
    try:
        catalog = store.current()
        check_category(catalog, category)
        if item_id not in catalog.items:
            raise NotFound(f"unknown item '{item_id}'", code="unknown_item")
        skip = {item_id}
        if user_id is not None:  # what this user bought, up to the last second, is left out
            (_, live_bought), (_, bought, _) = store.user_state(catalog.version, user_id)
            skip |= bought | live_bought
        ranked = store.similar(catalog.version, item_id) or ([], [])
        items = pick(ranked, catalog, n, category, skip=skip)
        source = "similar"
    except (RedisDown, NoActiveVersion):
        snap = store.fallback("similar")
        if snap is not None and item_id not in snap.catalog.items:
            raise NotFound(f"unknown item '{item_id}'", code="unknown_item") from None
        # Without Redis: popular items of the item's own category (or the asked one).
        cat = category or (snap.catalog.items[item_id][1] if snap is not None else None)
        items, version = fallback_items(snap, n, cat, skip={item_id})
        return json_response({"item_id": item_id, "model_version": version, "source": "fallback", "items": items})
    return json_response({"item_id": item_id, "model_version": catalog.version, "source": source, "items": items})


@bp.get("/v1/popular")
def popular():
    args = request.args
    n = int_param(args, "n", 10, 1, 100)
    category = category_param(args)
    store = current_app.extensions["store"]
    try:
        catalog = store.current()
        check_category(catalog, category)
        items = pick(store.popular(catalog.version, category or ""), catalog, n, category)
        return json_response(
            {"model_version": catalog.version, "category": category, "source": "popular", "items": items}
        )
    except (RedisDown, NoActiveVersion):
        items, version = fallback_items(store.fallback("popular"), n, category)
        return json_response({"model_version": version, "category": category, "source": "fallback", "items": items})
