"""POST /v1/events: live purchases, carts and views, validated as a whole batch, then applied at once."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from recsvc.auth import require_api_key
from recsvc.errors import ApiError, BadRequest

bp = Blueprint("events", __name__)
MAX_BATCH = 1000
EVENT_TYPES = ("view", "cart", "purchase", "click", "impression")
FIELDS = {"user_id", "item_id", "event", "timestamp", "quantity", "price", "recommendation_id"}
MAX_FUTURE_S = 300  # clocks drift; an event from further in the future is a client bug


class InvalidEvent(ApiError):
    status_code = 400
    code = "invalid_event"


def _iso_seconds(value: str) -> float | None:
    """Unix seconds of an ISO-8601 time (UTC when it names no zone), None when it is not one.

    The standard library reads the common forms; pandas (imported on first need: 0.3 s) the rest.
    """
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed).timestamp()
    except ValueError:
        pass
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return None
    if stamp is pd.NaT:
        return None
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).timestamp()


def _timestamp(value: object, where: str) -> float:
    if value is None:
        return time.time()
    if isinstance(value, bool):
        raise InvalidEvent(f"{where}.timestamp: must be ISO-8601 or unix seconds")
    if isinstance(value, (int, float)):
        ts = float(value)
    elif isinstance(value, str) and value.strip():
        ts = _iso_seconds(value)
        if ts is None:
            raise InvalidEvent(f"{where}.timestamp: not ISO-8601: '{value[:40]}'")
    else:
        raise InvalidEvent(f"{where}.timestamp: must be ISO-8601 or unix seconds")
    if not math.isfinite(ts) or ts < 0 or ts > time.time() + MAX_FUTURE_S:
        raise InvalidEvent(f"{where}.timestamp: out of range (in the future or before 1970)")
    return ts


def _number(entry: dict, name: str, where: str, default: float | None) -> float | None:
    value = entry.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidEvent(f"{where}.{name}: must be a number >= 0")
    return float(value)


def _string(entry: dict, name: str, where: str, required: bool = True) -> str | None:
    value = entry.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidEvent(f"{where}.{name}: must be a non-empty string of at most 256 characters")
    return value.strip()


def validate(entry: object, where: str) -> dict:
    """One event in the contract; raises InvalidEvent naming the index and field."""
    if not isinstance(entry, dict):
        raise InvalidEvent(f"{where}: must be an object")
    unknown = set(entry) - FIELDS
    if unknown:
        raise InvalidEvent(f"{where}.{sorted(unknown)[0]}: unknown field")
    event = entry.get("event")
    if event not in EVENT_TYPES:
        raise InvalidEvent(f"{where}.event: must be one of {', '.join(EVENT_TYPES)}")
    out = {
        "user_id": _string(entry, "user_id", where),
        "item_id": _string(entry, "item_id", where),
        "event": event,
        "timestamp": _timestamp(entry.get("timestamp"), where),
        "quantity": _number(entry, "quantity", where, 1.0),
        "price": _number(entry, "price", where, None),
    }
    rec_id = _string(entry, "recommendation_id", where, required=False)
    if rec_id is not None:
        out["recommendation_id"] = rec_id
    return out


@bp.post("/v1/events")
@require_api_key(required_without_keys=False)
def ingest():
    body = request.get_json(silent=True)
    if isinstance(body, dict) and "events" in body:
        if set(body) != {"events"} or not isinstance(body["events"], list):
            raise BadRequest('a batch is {"events": [event, ...]}', code="invalid_body")
        raw, batch = body["events"], True
    elif isinstance(body, dict):
        raw, batch = [body], False
    else:
        raise BadRequest('body must be a JSON event or {"events": [...]}', code="invalid_body")
    if not raw or len(raw) > MAX_BATCH:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH} events", code="invalid_body")
    events = [validate(e, f"events[{i}]" if batch else "event") for i, e in enumerate(raw)]
    ids = current_app.extensions["store"].ingest(events)
    return jsonify({"accepted": len(events), "ids": ids}), 202
