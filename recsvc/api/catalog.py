"""The live catalog: GET, PUT, PATCH and DELETE /v1/items/<item_id>, bulk POST /v1/items (API key)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from recsvc.api.params import path_id
from recsvc.auth import require_api_key
from recsvc.bodies import parse_entries
from recsvc.errors import BadRequest
from recsvc.extensions import get_store
from recsvc.logic import catalog_changes
from recsvc.merch_bodies import BulkItem, ItemBody, ItemPatch

bp = Blueprint("catalog", __name__)
MAX_BATCH = 1000


def _body() -> object:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", code="invalid_body")
    return body


@bp.get("/v1/items/<path:item_id>")
def get_item(item_id: str):
    path_id(item_id, "item_id")
    return jsonify(catalog_changes.item_view(get_store(), item_id))


@bp.put("/v1/items/<path:item_id>")
@require_api_key(required_without_keys=True)
def put_item(item_id: str):
    path_id(item_id, "item_id")
    (item,) = parse_entries(ItemBody, [_body()], "item", "invalid_item")
    return jsonify(catalog_changes.put_item(get_store(), item_id, item))


@bp.patch("/v1/items/<path:item_id>")
@require_api_key(required_without_keys=True)
def patch_item(item_id: str):
    path_id(item_id, "item_id")
    (patch,) = parse_entries(ItemPatch, [_body()], "item", "invalid_item")
    return jsonify(catalog_changes.patch_item(get_store(), item_id, patch))


@bp.delete("/v1/items/<path:item_id>")
@require_api_key(required_without_keys=True)
def delete_item(item_id: str):
    path_id(item_id, "item_id")
    return jsonify(catalog_changes.delete_item(get_store(), item_id))


@bp.post("/v1/items")
@require_api_key(required_without_keys=True)
def bulk():
    body = _body()
    if set(body) != {"items"} or not isinstance(body["items"], list):
        raise BadRequest('a batch is {"items": [item, ...]}', code="invalid_body")
    if not body["items"] or len(body["items"]) > MAX_BATCH:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH} items", code="invalid_body")
    entries = parse_entries(BulkItem, body["items"], "items", "invalid_item")
    return jsonify(catalog_changes.bulk(get_store(), entries)), 202
