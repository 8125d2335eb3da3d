"""Indexed ranked lists: positions in the catalog and half-precision scores."""

from __future__ import annotations

import numpy as np
import pytest

from contract import codecs


def test_indexed_lists_round_trip_at_both_widths() -> None:
    ids = [f"I{k}" for k in range(70_000)]
    for size, kind in ((1000, codecs.INDEX_U16), (70_000, codecs.INDEX_U32)):
        assert codecs.index_kind(size) == kind
        positions = [size - 1, 0, 17]
        blob = codecs.encode_indexed(positions, [0.98765, 0.5, -0.0001], kind)
        assert len(blob) == 3 + 3 * (2 if kind == codecs.INDEX_U16 else 4) + 3 * 2
        got_ids, scores = codecs.decode_indexed(blob, ids)
        assert got_ids == [ids[p] for p in positions]
        assert list(scores) == pytest.approx([0.9878, 0.5, -0.0001], abs=1e-3)
        assert got_ids[0] is ids[size - 1]  # the catalog's own strings, no copies
    assert codecs.decode_indexed(None, ids) is None
    empty_ids, empty_scores = codecs.decode_indexed(codecs.encode_indexed([], [], codecs.INDEX_U16), ids)
    assert empty_ids == [] and len(empty_scores) == 0


def test_a_hundred_items_take_403_bytes_and_rows_encode_as_one() -> None:
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 20_000, (5, 100))
    sc = np.sort(rng.random((5, 100), dtype=np.float32), axis=1)[:, ::-1]
    rows = codecs.encode_indexed_rows(pos, sc, codecs.INDEX_U16)
    assert rows == [codecs.encode_indexed(p, s, codecs.INDEX_U16) for p, s in zip(pos, sc)]
    assert {len(r) for r in rows} == {403}


def test_scores_beyond_half_precision_are_clipped_not_infinite() -> None:
    _, scores = codecs.decode_indexed(codecs.encode_indexed([0, 1], [1e6, -1e6], codecs.INDEX_U16), ["a", "b"])
    assert list(scores) == [65504.0, -65504.0]


def test_a_users_purchases_travel_after_their_list() -> None:
    ids = ["a", "b", "c", "d"]
    blob = codecs.encode_indexed([3, 1], [0.9, 0.1], codecs.INDEX_U16, bought=[0, 2])
    assert codecs.decode_indexed(blob, ids)[0] == ["d", "b"] and codecs.decode_bought(blob, ids) == ["a", "c"]
    only = codecs.encode_bought([1], codecs.INDEX_U32)
    assert codecs.decode_indexed(only, ids) is None and codecs.decode_bought(only, ids) == ["b"]
    assert codecs.decode_bought(None, ids) == []
    assert codecs.decode_bought(codecs.encode_indexed([0], [1.0], codecs.INDEX_U16), ids) == []
