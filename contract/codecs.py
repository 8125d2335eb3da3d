"""Binary encodings of published results that are not records: ranked lists, id lists, the catalog.

Ranked lists are read on every request, so they are raw bytes that one numpy call decodes rather than
typed records. The lists there are one of per user or per item (`encode_indexed`) hold each item as
its position in the version's catalog (uint16, or uint32 past 65,535 items) with a half-precision
score, and a user's list carries their past purchases too: 403 bytes for 100 items, plus 2 per
purchase, in one key, instead of about 1.2 KB of ids and float32 scores and a second key; decoding
takes the catalog's own id strings instead of building new ones. The few version-level lists
(popular, trending, segment popular) keep their ids (`encode_list`).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence

import msgpack
import numpy as np


def encode_obj(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def decode_obj(blob: bytes | None) -> object:
    return None if blob is None else msgpack.unpackb(blob, raw=False)


def encode_list(item_ids: Sequence[str], scores: Sequence[float] | np.ndarray) -> bytes:
    """A ranked list as msgpack [ids, float32 scores as raw bytes]: compact and fast to decode."""
    return msgpack.packb([list(item_ids), np.asarray(scores, dtype="<f4").tobytes()], use_bin_type=True)


def decode_list(blob: bytes | None) -> tuple[list[str], list[float]] | None:
    """(ids, scores rounded to 4 decimals as Python floats), ready to serialise. Rounding all 100 here
    (numpy, once per decoded list) is cheaper than Python's round() on the ten a response shows."""
    if blob is None:
        return None
    ids, raw = msgpack.unpackb(blob, raw=False)
    return ids, np.round(np.frombuffer(raw, dtype="<f4").astype(np.float64), 4).tolist()


INDEX_U16 = 1  # the first byte of an indexed list: the width of its item positions
INDEX_U32 = 2
NO_LIST = 0x80  # flag in the first byte: a user with purchases but no ranked list
_WIDTH = {INDEX_U16: np.dtype("<u2"), INDEX_U32: np.dtype("<u4")}
_F16_MAX = float(np.finfo(np.float16).max)
_HEADER = 3  # kind byte, then the ranked list's length (uint16)


def index_kind(catalog_size: int) -> int:
    """The narrowest item-position width for a catalog of this size."""
    return INDEX_U16 if catalog_size <= 0xFFFF else INDEX_U32


def index_dtype(kind: int) -> np.dtype:
    return _WIDTH[kind]


def _f16(scores) -> np.ndarray:
    return np.clip(np.asarray(scores, dtype=np.float32), -_F16_MAX, _F16_MAX).astype("<f2")


def encode_indexed(
    positions: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    kind: int,
    bought: Sequence[int] | np.ndarray = (),
) -> bytes:
    """A ranked list, best first, as [kind][length: uint16][positions in the catalog][float16 scores],
    followed by the positions of the user's past purchases (user lists only: one key per user).

    Scores beyond float16's range (65,504) are clipped; within it they keep 3 significant digits,
    more than the 4 decimals the API shows for scores below 1."""
    pos = np.asarray(positions, dtype=_WIDTH[kind])
    head = bytes([kind]) + len(pos).to_bytes(2, "little")
    return head + pos.tobytes() + _f16(scores).tobytes() + np.asarray(bought, dtype=_WIDTH[kind]).tobytes()


def encode_bought(bought: Sequence[int] | np.ndarray, kind: int) -> bytes:
    """The purchases of a user who has no ranked list."""
    return bytes([kind | NO_LIST, 0, 0]) + np.asarray(bought, dtype=_WIDTH[kind]).tobytes()


def encode_indexed_rows(positions: np.ndarray, scores: np.ndarray, kind: int) -> list[bytes]:
    """`encode_indexed` of every row of two (rows, length) matrices at once (full rows, no purchases)."""
    rows, length = positions.shape
    head = np.tile(np.frombuffer(bytes([kind]) + length.to_bytes(2, "little"), dtype=np.uint8), (rows, 1))
    pos = positions.astype(_WIDTH[kind]).view(np.uint8).reshape(rows, -1)
    sc = _f16(scores).view(np.uint8).reshape(rows, -1)
    return [row.tobytes() for row in np.concatenate([head, pos, sc], axis=1)]


def decode_indexed(blob: bytes | None, ids: Sequence[str]) -> tuple[list[str], array] | None:
    """(the catalog's ids at the list's positions, scores rounded to 4 decimals as a float64 array);
    None when there is no list."""
    if blob is None or blob[0] & NO_LIST:
        return None
    width = _WIDTH[blob[0]]
    n = int.from_bytes(blob[1:_HEADER], "little")
    pos = np.frombuffer(blob, dtype=width, count=n, offset=_HEADER)
    scores = np.frombuffer(blob, dtype="<f2", count=n, offset=_HEADER + n * width.itemsize)
    out = array("d")
    out.frombytes(np.round(scores.astype(np.float64), 4).tobytes())
    return [ids[p] for p in pos.tolist()], out


def decode_bought(blob: bytes | None, ids: Sequence[str]) -> list[str]:
    """The user's past purchases stored after their list (the catalog's ids)."""
    if blob is None:
        return []
    width = _WIDTH[blob[0] & ~NO_LIST]
    start = _HEADER + int.from_bytes(blob[1:_HEADER], "little") * (width.itemsize + 2)
    return [ids[p] for p in np.frombuffer(blob, dtype=width, offset=start).tolist()]


def encode_ids(item_ids: Sequence[str]) -> bytes:
    return msgpack.packb(list(item_ids), use_bin_type=True)


def decode_ids(blob: bytes | None) -> list[str]:
    return [] if blob is None else msgpack.unpackb(blob, raw=False)


def encode_catalog(
    item_ids: Sequence[str], titles: Sequence[str], categories: Sequence[str], available: Sequence[bool]
) -> bytes:
    """{item_id: [title, category, available]} for every item the lists may contain."""
    return msgpack.packb(
        {i: [t, c, bool(a)] for i, t, c, a in zip(item_ids, titles, categories, available)}, use_bin_type=True
    )


def decode_catalog(blob: bytes) -> dict[str, tuple[str, str, bool]]:
    return {k: (v[0], v[1], v[2]) for k, v in msgpack.unpackb(blob, raw=False).items()}


def encode_json(value: object) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))
