"""Domain exceptions carry their HTTP status, so request logic raises them without knowing about Flask;
recsvc/error_handlers.py maps them (and every other error) to one JSON shape."""

from __future__ import annotations


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
