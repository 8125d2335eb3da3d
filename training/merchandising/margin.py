"""What margin-aware ranking costs in relevance: the margin rule replayed on the test holdout.

The hybrid fitted on the training part ranks each evaluated user's first `POOL` candidates; the margin
rule re-scores them exactly as the service does (contract.rules: relevance from the rank plus weight x
margin normalised by the catalog's 95th-percentile margin) for a few weights. For each weight the report
shows NDCG@10, its change against weight 0, the expected margin of the top 10 (position-weighted mean,
contract.rules.position_weights) and the realised margin (sum of the margins of held-out items hit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.rules import margin_scale, position_weights
from training.config import RunConfig
from training.data import columns as C
from training.data.prepare import prepare
from training.evaluation.holdout import K, eval_users, relevant_sets
from training.evaluation.protocol import build_hybrid
from training.evaluation.ranking_metrics import ranking_metrics
from training.lists import exclusion

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0)
POOL = 30  # the service's candidate pool for n = 10 (recsvc/logic/rules.py pool_size)


def has_margins(items: pd.DataFrame) -> bool:
    return C.MARGIN in items and bool(items[C.MARGIN].notna().any())


def margin_tradeoff(
    train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame, tuning, config: RunConfig, extra: float | None = None
) -> dict | None:
    """The table of the module docstring; `extra` adds the weight of the rules file's margin rule."""
    if not has_margins(items):
        return None
    p = prepare(train, items, **config.prepare_kwargs())
    ex = exclusion(train, p, config.exclude_seen)
    rel = relevant_sets(p, test, ex)
    users = eval_users(rel, config.eval_users, config.seed)
    if not len(users):
        return None
    model = build_hybrid(tuning, p)
    idx, _ = model.recommend(users, POOL, ex)
    margin = items.set_index(C.ITEM_ID)[C.MARGIN].reindex(pd.Index(p.items.ids, dtype=object)).to_numpy(dtype=float)
    scale = margin_scale([m for m in margin if np.isfinite(m)])
    norm = np.where(np.isfinite(margin) & (margin > 0), np.minimum(np.nan_to_num(margin) / scale, 1.0), 0.0)
    known = np.nan_to_num(margin)
    relevance = 1.0 - np.arange(POOL) / POOL
    pw = np.array(position_weights(K))
    rows = []
    weights = sorted(set(WEIGHTS) | ({extra} if extra else set()))
    for w in weights:
        score = np.where(idx >= 0, relevance[None, :] + w * norm[np.clip(idx, 0, None)], -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")
        top = np.take_along_axis(idx, order, axis=1)[:, :K]
        metrics = ranking_metrics(top, [rel[u] for u in users], K)
        top_margin = np.where(top >= 0, known[np.clip(top, 0, None)], 0.0)
        hits = np.array([[i in rel[u] for i in row] for u, row in zip(users, top)])
        rows.append(
            {
                "weight": w,
                "ndcg@10": metrics[f"ndcg@{K}"],
                "expected_margin@10": float((top_margin * pw).sum(axis=1).mean()),
                "realised_margin@10": float((top_margin * hits).sum(axis=1).mean()),
            }
        )
    base = rows[0]["ndcg@10"] or 1.0
    for r in rows:
        r["ndcg_cost"] = r["ndcg@10"] / base - 1.0
    return {"users": int(len(users)), "pool": POOL, "margin_scale": scale, "by_weight": rows}
