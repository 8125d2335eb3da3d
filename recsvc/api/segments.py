"""Customer profiles, the segment list and cursor-paginated segment members for audience building."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from contract.records import to_json_ready
from recsvc.api.params import int_param, path_id
from recsvc.errors import BadRequest, NotFound
from recsvc.extensions import get_store
from recsvc.logic.cursors import decode_cursor, encode_cursor
from recsvc.logic.privacy import PROFILING, check_profile_allowed, visible

bp = Blueprint("segments", __name__)


@bp.get("/v1/users/<path:user_id>/profile")
def profile(user_id: str):
    path_id(user_id, "user_id")
    store = get_store()
    version = store.versions.active_version()
    check_profile_allowed(store, user_id)
    record = store.reads.profile(version, user_id)
    if record is None:
        raise NotFound(f"unknown user '{user_id}'", code="unknown_user")
    fields = to_json_ready(record)
    del fields["user_id"]
    return jsonify({"user_id": user_id, "model_version": version} | fields)


@bp.get("/v1/segments")
def segments():
    store = get_store()
    version = store.versions.active_version()
    items = store.reads.segments(version)
    return jsonify({"model_version": version, "segments": to_json_ready(items)})


@bp.get("/v1/segments/<path:segment>/users")
def segment_users(segment: str):
    """Members in user-id order. The cursor pins the version it was issued for, so a retrain in the
    middle of a walk never mixes two memberships: each user appears exactly once."""
    path_id(segment, "segment")
    args = request.args
    limit = int_param(args, "limit", 1000, 1, 10_000)
    cursor = args.get("cursor")
    store = get_store()
    version, after = decode_cursor(cursor) if cursor else (store.versions.active_version(), None)
    known = {s.id for s in store.reads.segments(version)}
    if segment not in known:
        if not known:
            raise BadRequest("the cursor's model version is no longer available; start again", code="expired_cursor")
        raise NotFound(f"unknown segment '{segment}' (see /v1/segments for ids)", code="unknown_segment")
    users, more = store.reads.segment_page(version, segment, after, limit)
    shown = visible(store, users, PROFILING)  # opted out since training: a page may hold fewer than `limit`
    return jsonify(
        {
            "segment": segment,
            "model_version": version,
            "users": [{"user_id": u} for u in shown],
            "next_cursor": encode_cursor(version, users[-1]) if more and users else None,
        }
    )
