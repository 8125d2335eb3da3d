"""GET /v1/items/<item_id>/similar and GET /v1/popular."""

from __future__ import annotations

from flask import Blueprint, request

from recsvc.api.params import category_param, int_param, path_id
from recsvc.extensions import get_store
from recsvc.jsonio import json_response
from recsvc.logic import recommend

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
    return json_response(recommend.similar_items(get_store(), item_id, n, category, user_id))


@bp.get("/v1/popular")
def popular():
    args = request.args
    return json_response(recommend.popular(get_store(), int_param(args, "n", 10, 1, 100), category_param(args)))
