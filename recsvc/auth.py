"""API keys for write endpoints: `X-API-Key`, compared in constant time, never logged or echoed."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

from flask import request

from recsvc.errors import ApiError
from recsvc.extensions import get_settings


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


def key_is_valid(given: str, keys: tuple[str, ...]) -> bool:
    # Compare against every key so the time taken does not reveal which (or whether one) matched.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given.encode(), key.encode())
    return ok


def check_api_key(required_without_keys: bool) -> None:
    """Raise unless the request carries a configured key.

    With no keys configured, `required_without_keys` decides: True refuses every write (403), False
    lets writes through (an open development setup).
    """
    keys = get_settings().api_keys
    if not keys:
        if required_without_keys:
            raise Forbidden("writes are disabled: no API keys are configured (RECSVC_API_KEYS)")
        return
    given = request.headers.get("X-API-Key")
    if not given:
        raise Unauthorized("missing X-API-Key header")
    if not key_is_valid(given, keys):
        raise Forbidden("invalid API key")


def require_api_key(required_without_keys: bool = True) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            check_api_key(required_without_keys)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_key_label() -> str:
    """Which configured key the request carries, for audit records: its position in RECSVC_API_KEYS
    ("api key #2"), never the key. Call after `check_api_key`."""
    given = (request.headers.get("X-API-Key") or "").encode()
    position = 0
    for k, key in enumerate(get_settings().api_keys, start=1):
        if hmac.compare_digest(given, key.encode()):
            position = k
    return f"api key #{position}" if position else "no api key (writes open)"
