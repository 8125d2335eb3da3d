"""Batch files for email and batch tools: one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.pipeline import RunResult


def _write_lists(path: Path, key: str, ids: np.ndarray, items: np.ndarray, scores: np.ndarray) -> int:
    with path.open("w", encoding="utf-8") as fh:
        for owner, row_items, row_scores in zip(ids, items, scores):
            entries = [
                {"item_id": str(i), "score": round(float(s), 4)} for i, s in zip(row_items, row_scores) if i != ""
            ]
            fh.write(json.dumps({key: str(owner), "items": entries}, ensure_ascii=False) + "\n")
    return len(ids)


def export(result: RunResult, out_dir: str | Path) -> dict[str, str]:
    """Write recommendations.jsonl and similar_items.jsonl into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recs = out / "recommendations.jsonl"
    sims = out / "similar_items.jsonl"
    _write_lists(recs, "user_id", result.user_ids, result.rec_items, result.rec_scores)
    _write_lists(sims, "item_id", result.item_ids, result.similar_items, result.similar_scores)
    return {"recommendations": str(recs), "similar_items": str(sims)}
