"""Offers per user, campaigns, audiences (JSON pages or CSV), outcomes and the uplift report."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from recsvc import stats
from recsvc.api.params import int_param, path_id
from recsvc.api.segments import decode_cursor, encode_cursor
from recsvc.auth import require_api_key
from recsvc.errors import BadRequest, NotFound

bp = Blueprint("offers", __name__)
MAX_OUTCOMES = 1000
GROUPS = ("treatment", "holdout")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _status(campaign: dict, now: str) -> str:
    if campaign.get("status") == "expired" or campaign["valid_to"] < now:
        return "expired"
    return "scheduled" if campaign["valid_from"] > now else "active"


def _campaign(store, version: str, offer_id: str) -> dict:
    path_id(offer_id, "offer_id")
    for c in store.campaigns(version):
        if c["offer_id"] == offer_id:
            return c
    raise NotFound(f"unknown campaign '{offer_id}'", code="unknown_campaign")


@bp.get("/v1/users/<path:user_id>/offers")
def user_offers(user_id: str):
    path_id(user_id, "user_id")
    store = current_app.extensions["store"]
    version = store.active_version()
    entry = store.user_offers(version, user_id) or {"holdout": False, "offers": []}
    now = _now_iso()
    live = [
        {k: o[k] for k in ("offer_id", "title", "discount_pct", "expected_value", "items", "valid_to")}
        for o in entry["offers"]
        if o["valid_from"] <= now <= o["valid_to"]
    ]
    return jsonify({"user_id": user_id, "model_version": version, "holdout": entry["holdout"], "offers": live})


@bp.get("/v1/campaigns")
def campaigns():
    store = current_app.extensions["store"]
    version = store.active_version()
    items = store.campaigns(version)
    now = _now_iso()
    out = [
        {
            "offer_id": c["offer_id"],
            "title": c["title"],
            "status": _status(c, now),
            "valid_from": c["valid_from"],
            "valid_to": c["valid_to"],
            "discount_pct": c["discount_pct"],
            "eligible_users": c["eligible_users"],
            "audience_size": c["audience_size"],
            "holdout_size": c["holdout_size"],
            "expected_cost": c["expected_cost"],
            "budget": c["budget"],
            "expected_value": c["expected_value"],
            "per_segment": c.get("per_segment", {}),
        }
        for c in items
    ]
    return jsonify({"model_version": version, "campaigns": out})


@bp.get("/v1/campaigns/<offer_id>/audience")
def audience(offer_id: str):
    args = request.args
    group = args.get("group", "treatment")
    if group not in GROUPS:
        raise BadRequest("'group' must be 'treatment' or 'holdout'", code="invalid_parameter")
    fmt = args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("'format' must be 'json' or 'csv'", code="invalid_parameter")
    limit = int_param(args, "limit", 1000, 1, 10_000)
    cursor = args.get("cursor")
    store = current_app.extensions["store"]
    version, after = decode_cursor(cursor) if cursor else (store.active_version(), None)
    _campaign(store, version, offer_id)
    if fmt == "csv":
        return _csv(store, version, offer_id, group)
    page, more = store.audience_page(version, offer_id, group, after, limit)
    users = [{"user_id": u, "expected_value": d.get("expected_value"), "items": d.get("items", [])} for u, d in page]
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
            page, more = store.audience_page(version, offer_id, group, after, 5000)
            for u, d in page:
                writer.writerow([u, group, d.get("expected_value"), "|".join(d.get("items", []))])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not more or not page:
                return
            after = page[-1][0]

    headers = {"Content-Disposition": f'attachment; filename="{offer_id}-{group}.csv"'}
    return Response(stream_with_context(rows()), mimetype="text/csv", headers=headers)


def _flag(entry: dict, name: str, where: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{where}.{name}: must be true or false", code="invalid_outcome")
    return value


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
    parsed: dict[str, dict] = {}
    for i, entry in enumerate(entries):
        where = f"outcomes[{i}]"
        if not isinstance(entry, dict):
            raise BadRequest(f"{where}: must be an object", code="invalid_outcome")
        unknown = set(entry) - {"user_id", "sent", "redeemed", "converted", "revenue"}
        if unknown:
            raise BadRequest(f"{where}.{sorted(unknown)[0]}: unknown field", code="invalid_outcome")
        user = entry.get("user_id")
        if not isinstance(user, str) or not user.strip() or len(user) > 256:
            raise BadRequest(f"{where}.user_id: must be a non-empty string", code="invalid_outcome")
        revenue = entry.get("revenue", 0.0)
        if (
            isinstance(revenue, bool)
            or not isinstance(revenue, (int, float))
            or not math.isfinite(revenue)
            or revenue < 0
        ):
            raise BadRequest(f"{where}.revenue: must be a number >= 0", code="invalid_outcome")
        parsed[user] = {
            "index": i,
            "sent": _flag(entry, "sent", where),
            "redeemed": _flag(entry, "redeemed", where),
            "converted": _flag(entry, "converted", where),
            "revenue": float(revenue),
        }
    store = current_app.extensions["store"]
    version = store.active_version()
    _campaign(store, version, offer_id)
    groups = store.audience_group(version, offer_id, list(parsed))
    for (user, rec), group in zip(parsed.items(), groups):
        where = f"outcomes[{rec['index']}]"
        if group is None:
            raise BadRequest(
                f"{where}.user_id: '{user}' is not in the audience of '{offer_id}'", code="not_in_audience"
            )
        if group == "holdout" and (rec["sent"] or rec["redeemed"]):
            raise BadRequest(f"{where}: '{user}' is in the holdout group and received no offer", code="invalid_outcome")
        rec["group"] = group
        del rec["index"]
    store.merge_outcomes(offer_id, parsed)
    return jsonify({"offer_id": offer_id, "recorded": len(parsed)}), 202


@bp.get("/v1/campaigns/<offer_id>/report")
def report(offer_id: str):
    store = current_app.extensions["store"]
    version = store.active_version()
    campaign = _campaign(store, version, offer_id)
    return jsonify(build_report(store, version, campaign))


def build_report(store, version: str, campaign: dict) -> dict:
    """Treatment against holdout for one campaign (also drawn by the dashboard)."""
    offer_id = campaign["offer_id"]
    sizes = store.audience_sizes(version, offer_id)
    records = store.outcomes(offer_id)
    groups = {}
    for g in GROUPS:
        mine = [r for r in records if r["group"] == g]
        n = max(sizes[g], len(mine))
        conv = sum(r["converted"] for r in mine)
        revenue = sum(r["revenue"] for r in mine)
        revenue_sq = sum(r["revenue"] ** 2 for r in mine)
        mean, var = stats.mean_var(revenue, revenue_sq, n)
        groups[g] = {
            "users": n,
            "with_outcomes": len(mine),
            "sent": sum(r["sent"] for r in mine),
            "redeemed": sum(r["redeemed"] for r in mine),
            "conversions": conv,
            "conversion_rate": conv / n if n else 0.0,
            "conversion_ci95": list(stats.proportion_ci(conv, n)),
            "revenue": round(revenue, 2),
            "revenue_per_user": mean,
            "_var": var,
        }
    t, h = groups["treatment"], groups["holdout"]
    conversion = stats.two_proportion_test(t["conversions"], t["users"], h["conversions"], h["users"])
    revenue = stats.welch_test(
        t["revenue_per_user"], t.pop("_var"), t["users"], h["revenue_per_user"], h.pop("_var"), h["users"]
    )
    t["redemption_rate"] = t["redeemed"] / t["users"] if t["users"] else 0.0
    significant = conversion["p_value"] is not None and conversion["p_value"] < 0.05
    verdict = (
        "not enough data"
        if conversion["p_value"] is None
        else ("uplift" if conversion["difference"] > 0 else "negative uplift")
        if significant
        else "no difference yet"
    )
    return {
        "offer_id": offer_id,
        "model_version": version,
        "budget": campaign["budget"],
        "expected_cost": campaign["expected_cost"],
        "groups": groups,
        "uplift": {"conversion_rate": conversion, "revenue_per_user": revenue},
        "verdict": verdict,
        "confidence": 0.95,
    }
