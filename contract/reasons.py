"""Why an item is on a customer's list: the reason codes the training job publishes and the service words.

Codes (strings): `buy_again` (bought before, due again), `bought_with:<item>` (bought together with one
of the customer's items), `similar_to:<item>` (a neighbour of one of their items), `viewed_before`,
`popular_in:<category>`, `popular`, `trending`, `for_you` (the ranker liked it for reasons no single
source explains). A version publishes the codes of each list's first `POSITIONS` items (what storefronts
show); later positions read as "recommended for you".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgpack

POSITIONS = 30
FOR_YOU = "recommended for you"


def encode_reasons(codes: Sequence[str]) -> bytes:
    return msgpack.packb([str(c) for c in list(codes)[:POSITIONS]], use_bin_type=True)


def decode_reasons(blob: bytes | None) -> list[str]:
    return [] if blob is None else msgpack.unpackb(blob, raw=False)


def reason_text(code: str, title_of: Callable[[str], str | None] | None = None) -> str:
    """Human text for a code: 'bought with WHITE HANGING HEART T-LIGHT HOLDER' (the anchor's title, else its id)."""
    kind, _, arg = code.partition(":")
    label = ((title_of(arg) if title_of is not None else None) or arg) if arg else ""
    return {
        "buy_again": "buy again",
        "bought_with": f"bought with {label}",
        "similar_to": f"similar to {label}",
        "viewed_before": "you looked at this",
        "popular_in": f"popular in {label}",
        "popular": "popular now",
        "trending": "trending",
    }.get(kind, FOR_YOU)
