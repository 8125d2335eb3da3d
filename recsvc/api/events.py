"""POST /v1/events: live purchases, carts and views, validated as a whole batch, then applied at once.

A batch is `{"events": [...]}` or a bare JSON array of events (what other recommenders' clients send).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from recsvc.auth import require_api_key
from recsvc.bodies import Event, parse_entries
from recsvc.errors import BadRequest
from recsvc.extensions import get_store
from recsvc.logic.attribution import record
from recsvc.logic.privacy import without_erased

bp = Blueprint("events", __name__)
MAX_BATCH = 1000


@bp.post("/v1/events")
@require_api_key(required_without_keys=False)
def ingest():
    body = request.get_json(silent=True)
    if isinstance(body, list):  # a bare array of events, as other recommenders' clients send batches
        raw, where = body, "events"
    elif isinstance(body, dict) and "events" in body:
        if set(body) != {"events"} or not isinstance(body["events"], list):
            raise BadRequest('a batch is {"events": [event, ...]}', code="invalid_body")
        raw, where = body["events"], "events"
    elif isinstance(body, dict):
        raw, where = [body], "event"
    else:
        raise BadRequest('body must be a JSON event, {"events": [...]} or an array of events', code="invalid_body")
    if not raw or len(raw) > MAX_BATCH:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH} events", code="invalid_body")
    events = [e.as_dict() for e in parse_entries(Event, raw, where, "invalid_event")]
    store = get_store()
    events, suppressed = without_erased(store, events)
    ids = record(store, events) if events else []
    return jsonify({"accepted": len(events), "ids": ids, "suppressed": suppressed}), 202
