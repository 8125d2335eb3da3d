"""The app factory: settings, Redis store, blueprints, error mapping, request ids, metrics."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, g, request

from recsvc import errors, logs
from recsvc.api import health, items, recommendations
from recsvc.metrics import REQUEST_SECONDS
from recsvc.settings import Settings
from recsvc.store import Store

access_log = logging.getLogger("recsvc.access")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config["SETTINGS"] = settings
    app.extensions["store"] = Store(settings)
    for module in (recommendations, items, health):
        app.register_blueprint(module.bp)
    errors.register_error_handlers(app)

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUEST_SECONDS.labels(endpoint=endpoint, method=request.method, status=response.status_code).observe(elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        return response

    return app
