"""The rules every event obeys, wherever it comes from: a training input file or `POST /v1/events`.

One place for the bounds, so a value the service accepts live is also a value the next training run
keeps, and the other way round: event names (case-insensitive), id characters and length, quantity,
price and revenue bounds, and the plausible time window. The training loader applies them to whole
columns (training/data/loading.py), the service to each request body (recsvc/bodies.py).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

EVENT_TYPES: tuple[str, ...] = ("view", "cart", "purchase", "click", "impression")

MAX_ID_LENGTH = 256
# Control characters (C0, DEL, C1): a NUL, newline or tab in an id breaks CSV exports, logs and keys.
CONTROL_CHARACTERS = "[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARACTERS)

MAX_QUANTITY = 1e6  # units in one event; quantity must be > 0
MAX_PRICE = 1e9  # unit price, >= 0
MAX_REVENUE = 1e9  # revenue of one campaign outcome, >= 0
MAX_USER_REVENUE = MAX_PRICE * MAX_QUANTITY  # what reports read back per user (sums of many events)

# Plausible event times: nothing before EARLIEST_EVENT; nothing later than now plus a tolerance, which is
# tight for live events (clocks drift by seconds) and a day for files (exported elsewhere, later read).
EARLIEST_EVENT = datetime(1990, 1, 1, tzinfo=UTC)
LIVE_MAX_AHEAD_S = 300.0
FILE_MAX_AHEAD_S = 86400.0


def id_problem(value: str) -> str | None:
    """Why `value` cannot be a user or item id (None when it can)."""
    if not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if _CONTROL.search(value):
        return "must not contain control characters (NUL, newline, tab, ...)"
    return None


def quantity_problem(value: float) -> str | None:
    if not 0 < value <= MAX_QUANTITY:
        return f"must be > 0 and <= {MAX_QUANTITY:g}, got {value:g}"
    return None


def amount_problem(value: float, high: float) -> str | None:
    """Prices and revenue: 0 <= value <= high."""
    if not 0 <= value <= high:
        return f"must be >= 0 and <= {high:g}, got {value:g}"
    return None


def bounded(value: float, high: float) -> float:
    """A stored amount read back inside [0, high] (NaN as 0): values stored before these bounds existed (or
    sums of many bounded ones) never overflow a report."""
    if value != value or value <= 0:  # NaN or nothing
        return 0.0
    return min(value, high)


def latest_event(max_ahead_s: float, now: float | None = None) -> datetime:
    return datetime.fromtimestamp((time.time() if now is None else now) + max_ahead_s, UTC)


def time_problem(unix_seconds: float, max_ahead_s: float = LIVE_MAX_AHEAD_S) -> str | None:
    """Why an event time is implausible (None when it is inside the window)."""
    if unix_seconds < EARLIEST_EVENT.timestamp():
        return f"is before {EARLIEST_EVENT.date().isoformat()}"
    if unix_seconds > time.time() + max_ahead_s:
        return f"is more than {max_ahead_s:g} seconds in the future"
    return None
