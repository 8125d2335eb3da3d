"""Merchandising lists: trending, new arrivals, recently viewed, bought together, cart complements."""

from __future__ import annotations

from flask import Blueprint, request

from recsvc.api.params import category_param, int_param, path_id
from recsvc.bodies import parse_entries
from recsvc.errors import BadRequest
from recsvc.extensions import get_store
from recsvc.jsonio import json_response
from recsvc.logic import merch_lists
from recsvc.merch_bodies import Cart

bp = Blueprint("merchandising", __name__)


def _n(args) -> int:
    return int_param(args, "n", 10, 1, 100)


@bp.get("/v1/trending")
def trending():
    args = request.args
    return json_response(merch_lists.trending(get_store(), _n(args), category_param(args)))


@bp.get("/v1/new-arrivals")
def new_arrivals():
    args = request.args
    return json_response(merch_lists.new_arrivals(get_store(), _n(args), category_param(args)))


@bp.get("/v1/users/<path:user_id>/recently-viewed")
def recently_viewed(user_id: str):
    path_id(user_id, "user_id")
    args = request.args
    return json_response(merch_lists.recently_viewed(get_store(), user_id, _n(args), category_param(args)))


@bp.get("/v1/items/<path:item_id>/bought-together")
def bought_together(item_id: str):
    path_id(item_id, "item_id")
    args = request.args
    user_id = args.get("user_id")
    if user_id is not None:
        path_id(user_id, "user_id")
    return json_response(merch_lists.bought_together(get_store(), item_id, _n(args), category_param(args), user_id))


@bp.post("/v1/cart/recommendations")
def cart():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('body must be JSON: {"items": [item ids], "user_id", "n", "category"}', code="invalid_body")
    (c,) = parse_entries(Cart, [body], "cart", "invalid_cart")
    return json_response(merch_lists.cart(get_store(), c.items, c.n, c.category, c.user_id))
