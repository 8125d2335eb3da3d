"""The batch files (training/publish/jsonl_export.py): one JSON object per line, padding left out."""

from __future__ import annotations

import json

import numpy as np

from training.publish.jsonl_export import _write_lists


def test_lines_hold_each_owner_items_scores_and_reasons_without_padding(tmp_path) -> None:
    ids = np.array(["u1", 'u"2', "ü3"], dtype=object)
    items = np.array([["a", "b", ""], ["c\\\\", "", ""], ["", "", ""]], dtype=object)
    scores = np.array([[0.123456, 2.0, np.nan], [1e-5, np.nan, np.nan], [np.nan] * 3], dtype=np.float32)
    reasons = np.array([["buy_again", "similar_to:a", ""], ["for_you", "", ""], ["", "", ""]], dtype=object)
    path = tmp_path / "recs.jsonl"
    assert _write_lists(path, "user_id", ids, items, scores, reasons) == 3
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {
            "user_id": "u1",
            "items": [
                {"item_id": "a", "score": round(float(np.float32(0.123456)), 4), "reason": "buy_again"},
                {"item_id": "b", "score": 2.0, "reason": "similar_to:a"},
            ],
        },
        {"user_id": 'u"2', "items": [{"item_id": "c\\\\", "score": 0.0, "reason": "for_you"}]},
        {"user_id": "ü3", "items": []},
    ]
    _write_lists(path, "item_id", ids[:1], items[:1], scores[:1])  # no reasons: no reason field
    assert json.loads(path.read_text()) == {
        "item_id": "u1",
        "items": [{"item_id": "a", "score": 0.1235}, {"item_id": "b", "score": 2.0}],
    }
