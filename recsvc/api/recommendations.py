"""GET /v1/users/<user_id>/recommendations (the ranked list, re-ranked by live events and filtered) and
GET /v1/users/<user_id>/buy-again (the customer's own purchases worth buying again)."""

from __future__ import annotations

from flask import Blueprint, request

from recsvc.api.params import category_param, exclude_param, int_param, path_id
from recsvc.extensions import get_store
from recsvc.jsonio import json_response
from recsvc.logic import recommend

bp = Blueprint("recommendations", __name__)


@bp.get("/v1/users/<path:user_id>/recommendations")
def recommendations(user_id: str):
    path_id(user_id, "user_id")
    args = request.args
    n = int_param(args, "n", 10, 1, 100)
    return json_response(recommend.recommendations(get_store(), user_id, n, category_param(args), exclude_param(args)))


@bp.get("/v1/users/<path:user_id>/buy-again")
def buy_again(user_id: str):
    path_id(user_id, "user_id")
    args = request.args
    n = int_param(args, "n", 10, 1, 100)
    return json_response(recommend.buy_again(get_store(), user_id, n, category_param(args), exclude_param(args)))
