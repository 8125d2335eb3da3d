"""Batch files for email and batch tools: one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.pipeline import RunResult


def _write_lists(
    path: Path, key: str, ids: np.ndarray, items: np.ndarray, scores: np.ndarray, reasons: np.ndarray | None = None
) -> int:
    with path.open("w", encoding="utf-8") as fh:
        for row, (owner, row_items, row_scores) in enumerate(zip(ids, items, scores)):
            entries = [
                {"item_id": str(i), "score": round(float(s), 4)} for i, s in zip(row_items, row_scores) if i != ""
            ]
            if reasons is not None:  # the ranking stage's reason code per item (training/ranking/reasons.py)
                for entry, code in zip(entries, reasons[row]):
                    entry["reason"] = str(code)
            fh.write(json.dumps({key: str(owner), "items": entries}, ensure_ascii=False) + "\n")
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
