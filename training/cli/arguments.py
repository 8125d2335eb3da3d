"""Argument types shared by the sub-commands: each problem is an argparse error (exit code 2)."""

from __future__ import annotations

import argparse
import math

import pandas as pd

from contract import connection, event_rules
from contract.timestamps import parse_instant
from training.data import columns as C
from training.data.loading import BadRowLimit


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got '{text}'")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def fraction(text: str) -> float:
    """A share between 0 and 1 (e.g. 0.2 for 20%)."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


def bad_row_limit(text: str) -> BadRowLimit:
    try:
        return BadRowLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a share like 1% or a row count like 500 ({exc})") from None


def plausible_time(text: str) -> pd.Timestamp:
    """A time inside the plausible window of events (contract.event_rules), e.g. for --as-of."""
    value = timestamp(text)
    earliest = pd.Timestamp(event_rules.EARLIEST_EVENT)
    latest = pd.Timestamp(event_rules.latest_event(event_rules.FILE_MAX_AHEAD_S))
    if not earliest <= value <= latest:
        raise argparse.ArgumentTypeError(
            f"'{text}' is outside the plausible window {earliest.date()} .. {latest.date()} (tomorrow)"
        )
    return value


def history_end(text: str) -> pd.Timestamp:
    """'now' (the current time, to the second) or a date/time, inside the plausible window."""
    if text.strip().lower() == "now":
        return pd.Timestamp.now(tz="UTC").floor("s")
    return plausible_time(text)


def timestamp(text: str) -> pd.Timestamp:
    """A date or ISO-8601 time (UTC when it names no zone), as the event contract reads them."""
    try:
        return pd.Timestamp(parse_instant(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO-8601 time: '{text}'") from None


def day(text: str) -> pd.Timestamp:
    """The start of a day (UTC)."""
    return timestamp(text).floor("D")


def event_weights(text: str) -> dict[str, float]:
    """'view=1,cart=3,purchase=5' -> dict; unknown event types or bad numbers are errors."""
    weights = dict(C.DEFAULT_EVENT_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in C.EVENT_TYPES:
            raise argparse.ArgumentTypeError(f"unknown event type '{name}' (use {', '.join(C.EVENT_TYPES)})")
        try:
            weights[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of '{name}' is not a number: '{value}'") from None
        if weights[name] < 0:
            raise argparse.ArgumentTypeError(f"weight of '{name}' must be >= 0")
    return weights


def k_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        k = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 2-8, got '{text}'") from None
    if not 2 <= k[0] <= k[1] <= 50:
        raise argparse.ArgumentTypeError("cluster range must satisfy 2 <= min <= max <= 50")
    return k


def redis_target(text: str) -> str:
    """A Redis URL: one Redis or a cluster (redis+cluster://HOST:PORT,HOST:PORT), checked before use."""
    try:
        connection.parse(text)
    except connection.UrlError as exc:
        raise argparse.ArgumentTypeError(f"{connection.safe_url(text)} {exc}") from None
    return text


def redis_url(parser: argparse.ArgumentParser) -> None:
    import os

    parser.add_argument(
        "--redis",
        type=redis_target,
        default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        help="redis://HOST:PORT/DB or redis+cluster://HOST:PORT,HOST:PORT (default: $REDIS_URL)",
    )
