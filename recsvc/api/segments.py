"""Customer profiles, the segment list and cursor-paginated segment members for audience building."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, current_app, jsonify, request

from recsvc.api.params import int_param, path_id
from recsvc.errors import BadRequest, NotFound

bp = Blueprint("segments", __name__)


def encode_cursor(version: str, last: str) -> str:
    return base64.urlsafe_b64encode(f"{version}\n{last}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        version, _, last = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("'cursor' is not a cursor returned by this endpoint", code="invalid_parameter") from None
    if not version or not last:
        raise BadRequest("'cursor' is not a cursor returned by this endpoint", code="invalid_parameter")
    return version, last


@bp.get("/v1/users/<path:user_id>/profile")
def profile(user_id: str):
    path_id(user_id, "user_id")
    store = current_app.extensions["store"]
    version = store.active_version()
    record = store.profile(version, user_id)
    if record is None:
        raise NotFound(f"unknown user '{user_id}'", code="unknown_user")
    return jsonify({"user_id": user_id, "model_version": version} | {k: v for k, v in record.items() if k != "user_id"})


@bp.get("/v1/segments")
def segments():
    store = current_app.extensions["store"]
    version = store.active_version()
    items = store.segments(version)
    return jsonify({"model_version": version, "segments": items})


@bp.get("/v1/segments/<path:segment>/users")
def segment_users(segment: str):
    """Members in user-id order. The cursor pins the version it was issued for, so a retrain in the
    middle of a walk never mixes two memberships: each user appears exactly once."""
    args = request.args
    limit = int_param(args, "limit", 1000, 1, 10_000)
    cursor = args.get("cursor")
    store = current_app.extensions["store"]
    version, after = decode_cursor(cursor) if cursor else (store.active_version(), None)
    known = {s["id"] for s in store.segments(version)}
    if segment not in known:
        if not known:
            raise BadRequest("the cursor's model version is no longer available; start again", code="expired_cursor")
        raise NotFound(f"unknown segment '{segment}' (see /v1/segments for ids)", code="unknown_segment")
    users, more = store.segment_page(version, segment, after, limit)
    return jsonify(
        {
            "segment": segment,
            "model_version": version,
            "users": [{"user_id": u} for u in users],
            "next_cursor": encode_cursor(version, users[-1]) if more and users else None,
        }
    )
