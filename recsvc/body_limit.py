"""The body size limit for chunked requests, which Werkzeug's MAX_CONTENT_LENGTH does not see.

A body sent with `Transfer-Encoding: chunked` has no Content-Length, so the limit is enforced while it is
read: more than `max_bytes` is a JSON 413 like a sized body's; a body within the limit is handed on
with its length, so the views read it as if it had been sized.
"""

from __future__ import annotations

import io
import json

CHUNK = 65536
DRAIN_BYTES = 16 * 2**20  # read (and drop) this much of an oversized body so the client sees the answer


class ChunkedBodyLimit:
    def __init__(self, wsgi_app, max_bytes: int) -> None:
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        if environ.get("CONTENT_LENGTH") or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.wsgi_app(environ, start_response)
        stream = environ["wsgi.input"]
        body = bytearray()
        while len(body) <= self.max_bytes:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            body += chunk
        if len(body) > self.max_bytes:
            drained = 0
            while drained < DRAIN_BYTES and (chunk := stream.read(CHUNK)):
                drained += len(chunk)
            message = f"the request body is larger than {self.max_bytes} bytes"
            payload = json.dumps({"error": {"code": "request_entity_too_large", "message": message}}).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
            if drained >= DRAIN_BYTES:
                headers.append(("Connection", "close"))
            start_response("413 Request Entity Too Large", headers)
            return [payload]
        environ["wsgi.input"] = io.BytesIO(bytes(body))
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)
