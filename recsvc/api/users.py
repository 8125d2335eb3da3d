"""DELETE /v1/users/<id> (erase the customer everywhere) and PUT /v1/users/<id>/consent (opt-outs).

Both need an API key. The access log shows these routes' rule, not their path: the path holds the id.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from recsvc.api.params import path_id
from recsvc.auth import api_key_label, require_api_key
from recsvc.bodies import ConsentStatement, parse_body
from recsvc.extensions import get_store
from recsvc.logic import privacy

bp = Blueprint("users", __name__)
# Endpoints whose path names a customer who asked not to be traced: the access log writes the rule instead.
REDACTED_ENDPOINTS = frozenset({"users.erase", "users.consent"})


@bp.delete("/v1/users/<path:user_id>")
@require_api_key(required_without_keys=True)
def erase(user_id: str):
    path_id(user_id, "user_id")
    return jsonify(privacy.erase(get_store(), user_id, api_key_label()))


@bp.put("/v1/users/<path:user_id>/consent")
@require_api_key(required_without_keys=True)
def consent(user_id: str):
    path_id(user_id, "user_id")
    body = parse_body(ConsentStatement, request.get_json(silent=True), "invalid_consent")
    return jsonify(privacy.record_consent(get_store(), user_id, body.profiling, body.marketing, body.stated_at))
