"""Cursors of paged member lists: they pin the model version they were issued for, so a retrain in the
middle of a walk never mixes two memberships (each user appears exactly once)."""

from __future__ import annotations

import base64
import binascii

from recsvc.errors import BadRequest


def encode_cursor(version: str, last: str) -> str:
    return base64.urlsafe_b64encode(f"{version}\n{last}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(version, last id of the previous page); a 400 for anything this service did not issue."""
    try:
        version, _, last = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("'cursor' is not a cursor returned by this endpoint", code="invalid_parameter") from None
    if not version or not last:
        raise BadRequest("'cursor' is not a cursor returned by this endpoint", code="invalid_parameter")
    return version, last


def expired(version: str) -> BadRequest:
    """The answer to a cursor whose model version was pruned since it was issued."""
    return BadRequest(
        f"the cursor's model version {version} is no longer available; start again without a cursor",
        code="expired_cursor",
    )
