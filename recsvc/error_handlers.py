"""One place maps every error to one JSON shape: `{"error": {"code", "message"}}` with its status."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from recsvc.errors import ApiError
from recsvc.store import NoActiveVersion, RedisDown

log = logging.getLogger(__name__)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError):
        return jsonify(error_body(exc.code, exc.message)), exc.status_code

    # Views that can answer without Redis (recommendations, similar, popular) catch these themselves.
    @app.errorhandler(RedisDown)
    def _redis_down(exc: RedisDown):
        body = error_body("redis_unavailable", "this answer needs Redis, which is unreachable; retry later")
        return jsonify(body), 503, {"Retry-After": "1"}

    @app.errorhandler(NoActiveVersion)
    def _no_version(exc: NoActiveVersion):
        return jsonify(error_body("no_active_version", "no model version has been published yet")), 404

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify(error_body(code, exc.description or exc.name))
        response.status_code = exc.code or 500
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error_body("internal_error", "internal server error")), 500
