"""Query-parameter parsing shared by the views; every problem is a 400 naming the parameter.

The helpers take the view's `request.args` (read once: each proxy lookup costs on the hot path).
"""

from __future__ import annotations

from collections.abc import Mapping

from contract import event_rules
from recsvc.errors import BadRequest

MAX_ID_LENGTH = event_rules.MAX_ID_LENGTH
MAX_EXCLUDE = 200


def int_param(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"'{name}' must be an integer between {low} and {high}, got '{raw[:50]}'", code="invalid_parameter"
        ) from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low} and {high}, got {value}", code="invalid_parameter")
    return value


def category_param(args: Mapping[str, str]) -> str | None:
    raw = args.get("category")
    if raw is None:
        return None
    if not raw.strip() or len(raw) > MAX_ID_LENGTH:
        raise BadRequest("'category' must be a non-empty category name", code="invalid_parameter")
    return raw


def exclude_param(args: Mapping[str, str]) -> set[str]:
    raw = args.get("exclude")
    if raw is None:
        return set()
    ids = [x.strip() for x in raw.split(",") if x.strip()]
    if len(ids) > MAX_EXCLUDE:
        raise BadRequest(f"'exclude' takes at most {MAX_EXCLUDE} item ids", code="invalid_parameter")
    if any(len(x) > MAX_ID_LENGTH for x in ids):
        raise BadRequest(f"'exclude' item ids must be at most {MAX_ID_LENGTH} characters", code="invalid_parameter")
    return set(ids)


def path_id(value: str, name: str) -> str:
    """An id in the path or query under the rules ids follow everywhere (contract.event_rules)."""
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise BadRequest(f"'{name}' must be 1 to {MAX_ID_LENGTH} characters", code="invalid_parameter")
    problem = event_rules.id_problem(value)
    if problem:
        raise BadRequest(f"'{name}' {problem}", code="invalid_parameter")
    return value
