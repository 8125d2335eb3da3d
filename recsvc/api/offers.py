"""Offers per user, campaigns, audiences (JSON pages or CSV), outcomes and the uplift report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request, stream_with_context

from contract.records import AUDIENCE_GROUPS, TREATMENT, UserOffers
from recsvc.api.params import int_param, path_id
from recsvc.auth import require_api_key
from recsvc.bodies import Outcome as OutcomeBody
from recsvc.bodies import parse_entries
from recsvc.errors import BadRequest
from recsvc.extensions import get_store
from recsvc.logic.campaigns import build_report, check_outcomes, find_campaign, held_out_of, live_offers, summary
from recsvc.logic.cursors import decode_cursor, encode_cursor, expired
from recsvc.logic.privacy import OFFERS, offers_allowed, visible

bp = Blueprint("offers", __name__)
MAX_OUTCOMES = 1000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _campaign(version: str, offer_id: str) -> dict:
    path_id(offer_id, "offer_id")
    return find_campaign(get_store().reads, version, offer_id)


@bp.get("/v1/users/<path:user_id>/offers")
def user_offers(user_id: str):
    path_id(user_id, "user_id")
    store = get_store()
    version = store.versions.active_version()
    allowed = offers_allowed(store, user_id)
    entry = (store.reads.user_offers(version, user_id) if allowed else None) or UserOffers()
    live = live_offers(entry, _now_iso())
    held = held_out_of(store.reads, version, user_id, entry)
    return jsonify(
        {
            "user_id": user_id,
            "model_version": version,
            "holdout": bool(held),  # in at least one offer's holdout (kept for older clients)
            "holdout_offers": held,
            "offers": live,
        }
    )


@bp.get("/v1/campaigns")
def campaigns():
    store = get_store()
    version = store.versions.active_version()
    items = store.reads.campaigns(version)
    now = _now_iso()
    out = [summary(c, now) for c in items]
    return jsonify({"model_version": version, "campaigns": out})


@bp.get("/v1/campaigns/<offer_id>/audience")
def audience(offer_id: str):
    args = request.args
    group = args.get("group", TREATMENT)
    if group not in AUDIENCE_GROUPS:
        raise BadRequest("'group' must be 'treatment' or 'holdout'", code="invalid_parameter")
    fmt = args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("'format' must be 'json' or 'csv'", code="invalid_parameter")
    limit = int_param(args, "limit", 1000, 1, 10_000)
    cursor = args.get("cursor")
    store = get_store()
    version, after = decode_cursor(cursor) if cursor else (store.versions.active_version(), None)
    if cursor and not store.reads.is_published(version):
        raise expired(version)
    _campaign(version, offer_id)
    if fmt == "csv":
        return _csv(store, version, offer_id, group)
    page, more = store.reads.audience_page(version, offer_id, group, after, limit)
    shown = set(visible(store, [u for u, _ in page], OFFERS))  # opted out since training: left out
    users = [{"user_id": u, "expected_value": d.expected_value, "items": d.items} for u, d in page if u in shown]
    return jsonify(
        {
            "offer_id": offer_id,
            "group": group,
            "model_version": version,
            "users": users,
            "next_cursor": encode_cursor(version, page[-1][0]) if more and page else None,
        }
    )


def _csv(store, version: str, offer_id: str, group: str) -> Response:
    def rows():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["user_id", "group", "expected_value", "items"])
        after = None
        while True:
            page, more = store.reads.audience_page(version, offer_id, group, after, 5000)
            shown = set(visible(store, [u for u, _ in page], OFFERS))
            for u, d in page:
                if u in shown:
                    writer.writerow([u, group, d.expected_value, "|".join(d.items)])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not more or not page:
                return
            after = page[-1][0]

    headers = {"Content-Disposition": f'attachment; filename="{offer_id}-{group}.csv"'}
    return Response(stream_with_context(rows()), mimetype="text/csv", headers=headers)


@bp.post("/v1/campaigns/<offer_id>/outcomes")
@require_api_key(required_without_keys=True)
def record_outcomes(offer_id: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("outcomes"), list):
        raise BadRequest(
            'body must be JSON: {"outcomes": [{"user_id", "sent", "redeemed", "converted", "revenue"}]}',
            code="invalid_body",
        )
    entries = body["outcomes"]
    if not entries or len(entries) > MAX_OUTCOMES:
        raise BadRequest(f"'outcomes' must hold 1 to {MAX_OUTCOMES} entries", code="invalid_body")
    parsed = {
        o.user_id: (i, o.model_dump(exclude={"user_id"}))
        for i, o in enumerate(parse_entries(OutcomeBody, entries, "outcomes", "invalid_outcome"))
    }
    store = get_store()
    version = store.versions.active_version()
    _campaign(version, offer_id)
    store.writes.merge_outcomes(offer_id, check_outcomes(store.reads, version, offer_id, parsed))
    return jsonify({"offer_id": offer_id, "recorded": len(parsed)}), 202


@bp.get("/v1/campaigns/<offer_id>/report")
def report(offer_id: str):
    store = get_store()
    version = store.versions.active_version()
    return jsonify(build_report(store.reads, version, _campaign(version, offer_id)))
