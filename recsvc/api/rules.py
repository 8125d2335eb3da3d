"""GET and PUT /v1/rules (the active business rules, API key) and POST /v1/rules/dry-run."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from recsvc.auth import require_api_key
from recsvc.bodies import parse_entries
from recsvc.errors import BadRequest
from recsvc.extensions import get_store
from recsvc.logic import rules_admin
from recsvc.merch_bodies import DryRun

bp = Blueprint("rules", __name__)


def _json() -> object:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest('body must be JSON: {"rules": [...]}', code="invalid_body")
    return body


@bp.get("/v1/rules")
@require_api_key(required_without_keys=True)
def get_rules():
    return jsonify(rules_admin.get_rules(get_store()))


@bp.put("/v1/rules")
@require_api_key(required_without_keys=True)
def put_rules():
    return jsonify(rules_admin.put_rules(get_store(), _json()))


@bp.post("/v1/rules/dry-run")
@require_api_key(required_without_keys=True)
def dry_run():
    (d,) = parse_entries(DryRun, [_json()], "dry run", "invalid_body")
    return jsonify(rules_admin.dry_run(get_store(), d.user_id, d.rules, d.n, d.category))
