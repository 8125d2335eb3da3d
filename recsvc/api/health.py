"""Liveness, readiness, metrics and the active model's description."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from recsvc import metrics

bp = Blueprint("health", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify({"status": "ok"}))


@bp.get("/readyz")
def readyz():
    ok, detail = current_app.extensions["store"].ready()
    body = {"status": "ready" if ok else "not_ready", ("model_version" if ok else "reason"): detail}
    response = _no_store(jsonify(body))
    response.status_code = 200 if ok else 503
    return response


@bp.get("/metrics")
def prometheus():
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)


@bp.get("/v1/model")
def model():
    store = current_app.extensions["store"]
    version = store.active_version()
    meta = store.meta(version)
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
