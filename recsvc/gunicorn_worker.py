"""gunicorn's gthread worker, answering a request line over gunicorn's limit with the service's JSON error.

gunicorn rejects a request line longer than `limit_request_line` (8190 bytes here, its maximum short
of "unlimited") before the app sees it, with an HTML page; this worker sends the same 414 as
`{"error": {"code": "uri_too_long", "message"}}` so every error of the API has one shape.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker


def uri_too_long(limit: int) -> bytes:
    """The whole HTTP response for a request line over `limit` bytes."""
    message = f"the request line (method, path and query) is longer than {limit} bytes"
    body = json.dumps({"error": {"code": "uri_too_long", "message": message}}).encode()
    head = (
        "HTTP/1.1 414 URI Too Long\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        if not isinstance(exc, LimitRequestLine):
            return super().handle_error(req, client, addr, exc)
        self.log.debug("request line over the limit from %s", addr)
        try:
            util.write_nonblock(client, uri_too_long(self.cfg.limit_request_line))
        except OSError:
            pass  # the client went away
        return None
