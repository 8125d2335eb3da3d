"""The one reading of a time in the contract: ISO-8601 (UTC when it names no zone) or unix seconds.

Live events, configuration files and command-line dates are read here; the training job's vectorised
loader applies the same rules to whole columns (training/data/loading.py).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Before this, a "unix seconds" value is a millisecond timestamp or garbage.
MAX_UNIX_SECONDS = 1e11


def parse_instant(value: object) -> datetime:
    """A timezone-aware UTC datetime; ValueError (a short reason) for anything else."""
    if isinstance(value, bool):
        raise ValueError("must be ISO-8601 or unix seconds")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):  # YAML reads 2026-11-01 as a date
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float)):
        return _from_seconds(float(value))
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be ISO-8601 or unix seconds")
    text = value.strip()
    if _NUMBER.match(text):
        return _from_seconds(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or time: '{text[:40]}'") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_seconds(seconds: float) -> datetime:
    if not math.isfinite(seconds) or abs(seconds) >= MAX_UNIX_SECONDS:
        raise ValueError("unix seconds out of range")
    return datetime.fromtimestamp(seconds, UTC)


def unix_seconds(value: object) -> float:
    return parse_instant(value).timestamp()


def iso(value: object) -> str:
    """ISO-8601 UTC text of a time (sortable as a string: every stored bound uses this form)."""
    return parse_instant(value).isoformat()
