"""How input that fails validation is described: one error, where it is, and what is wrong, in words.

Configuration files (training) and request bodies (service) are validated by pydantic models; this
turns pydantic's first error into the message the user sees ("offer 'vip', field 'budget': must be
> 0"), so every input speaks the same language.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError

Location = tuple[int | str, ...]


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_MESSAGES: dict[str, Callable[[dict, Any], str]] = {
    "missing": lambda c, v: "is required",
    "extra_forbidden": lambda c, v: "unknown field",
    "greater_than": lambda c, v: f"must be > {c['gt']}, got {_shown(v)}",
    "greater_than_equal": lambda c, v: f"must be >= {c['ge']}, got {_shown(v)}",
    "less_than": lambda c, v: f"must be < {c['lt']}, got {_shown(v)}",
    "less_than_equal": lambda c, v: f"must be <= {c['le']}, got {_shown(v)}",
    "finite_number": lambda c, v: "must be finite",
    "float_type": lambda c, v: f"must be a number, got {_shown(v)}",
    "float_parsing": lambda c, v: f"must be a number, got {_shown(v)}",
    "int_type": lambda c, v: f"must be an integer, got {_shown(v)}",
    "int_parsing": lambda c, v: f"must be an integer, got {_shown(v)}",
    "int_from_float": lambda c, v: f"must be an integer, got {_shown(v)}",
    "bool_type": lambda c, v: "must be true or false",
    "bool_parsing": lambda c, v: "must be true or false",
    "string_type": lambda c, v: "must be a string",
    "string_too_short": lambda c, v: "must be a non-empty string",
    "string_too_long": lambda c, v: f"must be at most {c['max_length']} characters",
    "list_type": lambda c, v: "must be a list",
    "too_short": lambda c, v: f"must hold at least {c['min_length']} entries",
    "too_long": lambda c, v: f"must hold at most {c['max_length']} entries",
    "dict_type": lambda c, v: "must be an object",
    "model_type": lambda c, v: "must be an object",
    "model_attributes_type": lambda c, v: "must be an object",
    "literal_error": lambda c, v: f"must be one of {c['expected']}",
}


def first_error(exc: ValidationError) -> tuple[Location, str]:
    """(location, message) of the first problem pydantic found."""
    err = exc.errors(include_url=False)[0]
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _MESSAGES:
        message = _MESSAGES[kind](ctx, value)
    elif "error" in ctx:  # a ValueError raised by one of our validators: its own words
        message = str(ctx["error"])
    else:
        message = err["msg"][0].lower() + err["msg"][1:]
    return tuple(err["loc"]), message


def dotted(loc: Location) -> str:
    """events[3].quantity"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- field types with the project's rules --------------------------------------------------------------------
def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be finite")
    return value


def _whole_at_least_one(value: int) -> int:
    if value < 1:
        raise PydanticCustomError("integer_too_small", "must be an integer >= 1, got {value}", {"value": value})
    return value


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("string_too_short", "must be a non-empty string")
    return value


Number = Annotated[float, Strict(), AfterValidator(_finite)]  # a JSON/YAML number (ints too), never a bool
Count = Annotated[int, Strict(), AfterValidator(_whole_at_least_one)]  # an integer >= 1
Text = Annotated[str, Strict(), AfterValidator(_non_empty)]  # a non-empty string, stripped


def bounded_text(max_length: int) -> Any:
    """`Text` of at most `max_length` characters, counted as sent (before stripping), as the OpenAPI
    description's `maxLength` counts them."""
    return Annotated[str, Strict(), Field(max_length=max_length), AfterValidator(_non_empty)]
