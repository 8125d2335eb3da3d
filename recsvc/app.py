"""The app factory: settings, Redis store, blueprints, error mapping, request ids, metrics."""

from __future__ import annotations

import logging
import random
import time

from flask import Flask
from werkzeug.routing import PathConverter

from recsvc import errors, logs
from recsvc.api import dashboard, docs, events, experiments, health, items, offers, recommendations, segments
from recsvc.jsonio import OrjsonProvider
from recsvc.metrics import observe_request
from recsvc.settings import Settings
from recsvc.store import Store

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
                        "path": req.path if req is not None else environ.get("PATH_INFO", ""),
                        "status": code,
                        "duration_ms": round(elapsed * 1000, 2),
                        "request_id": request_id,
                    },
                )
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, finish)


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

    app.wsgi_app = RequestObserver(app.wsgi_app, settings.access_log)
    return app
