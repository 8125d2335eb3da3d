"""The app factory: settings, Redis store, blueprints, error mapping, request ids, metrics."""

from __future__ import annotations

import logging
import random
import time

from flask import Flask, request
from werkzeug.routing import PathConverter

from recsvc import errors, logs
from recsvc.api import dashboard, docs, events, experiments, health, items, offers, recommendations, segments
from recsvc.jsonio import OrjsonProvider
from recsvc.metrics import observe_request
from recsvc.settings import Settings
from recsvc.store import Store

access_log = logging.getLogger("recsvc.access")
STARTED = "recsvc.started"
REQUEST_ID = "recsvc.request_id"


class RequestTimer:
    """WSGI middleware: stamps the start time and the request id (the caller's X-Request-ID or a new one)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[STARTED] = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        environ[REQUEST_ID] = (
            given[:64] if given else f"{random.getrandbits(64):016x}"
        )  # no syscall: see recommendation_id
        return self.wsgi_app(environ, start_response)


class IdPathConverter(PathConverter):
    """`<path:...>` that also matches ids with a newline: Werkzeug's `.` stops there and the route 404s."""

    regex = "[^/](?s:.)*?"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.url_map.converters["path"] = IdPathConverter  # before any route is added
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SETTINGS"] = settings
    app.config["STARTED_AT"] = time.time()
    app.extensions["store"] = Store(settings)
    for module in (recommendations, items, segments, offers, events, experiments, health, docs, dashboard):
        app.register_blueprint(module.bp)
    app.register_blueprint(docs.swagger)
    errors.register_error_handlers(app)

    app.wsgi_app = RequestTimer(app.wsgi_app)
    access_log_on = settings.access_log

    @app.after_request
    def _finish(response):
        environ = request.environ
        elapsed = time.perf_counter() - environ[STARTED]
        rule = request.url_rule
        status = response.status_code
        observe_request(rule.rule if rule else "unmatched", environ["REQUEST_METHOD"], status, elapsed)
        response.headers["X-Request-ID"] = environ[REQUEST_ID]
        if access_log_on:
            access_log.info(
                "request",
                extra={
                    "method": environ["REQUEST_METHOD"],
                    "path": request.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        return response

    return app
