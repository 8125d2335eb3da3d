"""The app factory: settings, Redis store, blueprints, error mapping, request ids, metrics."""

from __future__ import annotations

import logging
import random
import time

from flask import Flask
from werkzeug.routing import PathConverter

from recsvc import error_handlers, logs
from recsvc.api import (
    catalog,
    dashboard,
    docs,
    events,
    experiments,
    health,
    items,
    merchandising,
    offers,
    recommendations,
    rules,
    segments,
    users,
)
from recsvc.body_limit import ChunkedBodyLimit
from recsvc.jsonio import OrjsonProvider
from recsvc.settings import Settings
from recsvc.store import Store
from recsvc.telemetry import observe_request

access_log = logging.getLogger("recsvc.access")
REQUEST_ID = "recsvc.request_id"


class RequestObserver:
    """WSGI middleware around the Flask app: the request id (the caller's X-Request-ID or a new one) in
    the environ and the response headers, the latency histogram per route, and the access log line.

    Done at the WSGI level rather than in an after_request hook: no request proxies, no Headers object
    to rebuild, on every request of the hot path.
    """

    def __init__(self, wsgi_app, access_log_on: bool) -> None:
        self.wsgi_app = wsgi_app
        self.access_log_on = access_log_on

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        # The process's PRNG (reseeded in every forked worker), not a syscall: see recommendation_id.
        request_id = environ[REQUEST_ID] = given[:64] if given else f"{random.getrandbits(64):016x}"

        def finish(status: str, headers: list, exc_info=None):
            elapsed = time.perf_counter() - started
            req = environ.get("werkzeug.request")  # Flask's request, with the matched rule
            rule = req.url_rule if req is not None else None
            code = int(status[:3])
            observe_request(rule.rule if rule else "unmatched", environ["REQUEST_METHOD"], code, elapsed)
            headers.append(("X-Request-ID", request_id))
            if self.access_log_on:
                access_log.info(
                    "request",
                    extra={
                        "method": environ["REQUEST_METHOD"],
                        "path": _logged_path(req, rule, environ),
                        "status": code,
                        "duration_ms": round(elapsed * 1000, 2),
                        "request_id": request_id,
                    },
                )
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, finish)


def _logged_path(req, rule, environ) -> str:
    """The request path, except where it names a customer who asked to be erased or opted out: the rule."""
    if rule is not None and rule.endpoint in users.REDACTED_ENDPOINTS:
        return rule.rule
    return req.path if req is not None else environ.get("PATH_INFO", "")


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
    for module in (
        recommendations,
        items,
        merchandising,
        catalog,
        rules,
        segments,
        offers,
        events,
        experiments,
        users,
        health,
        docs,
        dashboard,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(docs.swagger)
    error_handlers.register_error_handlers(app)

    app.wsgi_app = RequestObserver(ChunkedBodyLimit(app.wsgi_app, settings.max_body_bytes), settings.access_log)
    return app
