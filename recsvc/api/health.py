"""Liveness, readiness, metrics and the active model's description."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from recsvc import telemetry
from recsvc.extensions import get_store

bp = Blueprint("health", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify({"status": "ok"}))


@bp.get("/readyz")
def readyz():
    ok, detail = get_store().versions.ready()
    body = {"status": "ready" if ok else "not_ready", ("model_version" if ok else "reason"): detail}
    response = _no_store(jsonify(body))
    response.status_code = 200 if ok else 503
    return response


@bp.get("/metrics")
def prometheus():
    payload, content_type = telemetry.render()
    return Response(payload, content_type=content_type)


@bp.get("/v1/model")
def model():
    store = get_store()
    version = store.versions.active_version()
    meta = store.reads.meta(version)
    return jsonify(
        {
            "model_version": version,
            "trained_at": meta.get("trained_at"),
            "users": int(meta.get("users", 0)),
            "items": int(meta.get("items", 0)),
            "metrics": meta.get("metrics", {}),
            "config": meta.get("config", {}),
        }
    )
