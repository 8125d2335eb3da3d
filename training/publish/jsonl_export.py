"""Batch files for email and batch tools: one JSON object per line."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from training.pipeline import RunResult


class _Entry(msgspec.Struct, omit_defaults=True):
    item_id: str
    score: float
    reason: str | None = None  # the ranking stage's reason code (training/ranking/reasons.py)


_ENCODER = msgspec.json.Encoder()


def _write_lists(
    path: Path, key: str, ids: np.ndarray, items: np.ndarray, scores: np.ndarray, reasons: np.ndarray | None = None
) -> int:
    # msgspec encodes a line 3x faster than json.dumps of dicts (45 s of the 330k-customer shop's run)
    with path.open("wb") as fh:
        for row, owner in enumerate(ids):
            kept = items[row] != ""
            row_items, row_scores = items[row][kept].tolist(), scores[row][kept].tolist()
            codes = [None] * len(row_items) if reasons is None else reasons[row][kept].tolist()
            entries = [
                _Entry(str(i), round(s, 4), c if c is None else str(c)) for i, s, c in zip(row_items, row_scores, codes)
            ]
            fh.write(_ENCODER.encode({key: str(owner), "items": entries}))
            fh.write(b"\n")
    return len(ids)


def write_exports(result: RunResult, out_dir: str | Path) -> dict[str, str]:
    """recommendations.jsonl (with the ranking stage's reason codes), similar_items.jsonl and, when the stage
    served, buy_again.jsonl ("order again" lists) into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recs = out / "recommendations.jsonl"
    sims = out / "similar_items.jsonl"
    _write_lists(recs, "user_id", result.user_ids, result.rec_items, result.rec_scores, result.rec_reasons)
    _write_lists(sims, "item_id", result.item_ids, result.similar_items, result.similar_scores)
    paths = {"recommendations": str(recs), "similar_items": str(sims)}
    if result.buy_again is not None:
        again = out / "buy_again.jsonl"
        _write_lists(again, "user_id", result.user_ids, result.buy_again, result.buy_again_scores)
        paths["buy_again"] = str(again)
    return paths
