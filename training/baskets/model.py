"""The frequently-bought-together lists a version serves: baskets, counts, beta chosen on held-out baskets."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.baskets.association import BETAS, HALF_LIVES_DAYS, MIN_LIFT, MIN_SUPPORT, Associations, Ranked
from training.baskets.baskets import SESSION_GAP_MINUTES, Baskets, baskets, split_by_time
from training.baskets.evaluation import K, basket_metrics, held_out_queries

VALIDATION_FRACTION = 0.1


VALIDATION_QUERIES_PER_BASKET = 3


@dataclass
class BasketSettings:
    n: int = 20
    min_support: int = MIN_SUPPORT
    min_lift: float = MIN_LIFT
    session_gap_minutes: float = SESSION_GAP_MINUTES
    betas: tuple[float, ...] = BETAS
    half_lives_days: tuple[float | None, ...] = HALF_LIVES_DAYS


@dataclass
class BoughtTogether:
    associations: Associations
    ranked: Ranked
    beta: float
    half_life_days: float | None
    report: dict = field(default_factory=dict)

    def lists(self) -> dict[str, tuple[list[str], list[float], list[int], list[float], list[float]]]:
        """External item id -> (complements, scores, baskets together, confidence, lift), for items with one."""
        ids = self.associations.item_ids
        out = {}
        for a, cols in enumerate(self.ranked.items):
            if len(cols):
                out[str(ids[a])] = (
                    [str(ids[c]) for c in cols],
                    np.round(self.ranked.scores[a].astype(np.float64), 4).tolist(),
                    self.ranked.baskets[a].tolist(),
                    np.round(self.ranked.confidence[a].astype(np.float64), 4).tolist(),
                    np.round(self.ranked.lift[a].astype(np.float64), 3).tolist(),
                )
        return out


def ranked_lists(assoc: Associations, ranked: Ranked, rows: np.ndarray | None = None) -> dict[str, list[str]]:
    """External id -> its list; `rows`: the item positions `ranked` holds, when it holds only some."""
    ids = assoc.item_ids
    rows = np.arange(len(ranked.items)) if rows is None else rows
    return {str(ids[a]): [str(ids[c]) for c in cols] for a, cols in zip(rows, ranked.items)}


def choose(b: Baskets, s: BasketSettings) -> tuple[float, float | None, dict[str, dict]]:
    """(beta, half-life) for the lists, chosen on the last baskets with the earlier ones as training data.

    One-standard-error rule: among the settings whose NDCG@K is within one standard error of the best,
    the one closest to plain counts (smallest beta, then no or the longest half-life) wins, so noise in
    the validation baskets does not pick an extreme.
    """
    fit_part, valid = split_by_time(b, VALIDATION_FRACTION)
    trials: dict[str, dict] = {}
    scored = []
    # the plain counts once for every half-life; the items, and so the queries, are the same for all of them
    queries: list = []
    rows = np.zeros(0, dtype=np.int64)
    counted = zip(s.half_lives_days, Associations.count_each(fit_part, s.half_lives_days))
    for position, (half_life, assoc) in enumerate(counted):
        if position == 0:
            known = set(map(str, assoc.item_ids))
            # Every item of a big wholesale basket is a query otherwise: two per basket keep the choice cheap
            # (the same seed, so every setting is scored on the same queries).
            queries = held_out_queries(valid, known.__contains__, queries_per_basket=VALIDATION_QUERIES_PER_BASKET)
            # only the query items' lists are scored: ranking them alone is the same and less than half the work
            rows = np.flatnonzero(np.isin(assoc.item_ids, np.array(sorted({q for q, _ in queries}), dtype=object)))
        for beta in s.betas:
            lists = ranked_lists(assoc, assoc.rank(K, beta, s.min_support, s.min_lift, rows=rows), rows)
            m = basket_metrics(lambda q, lists=lists: lists.get(q, ()), queries)
            trials[f"beta {beta}, half-life {half_life or 'none'}"] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()
            }
            scored.append((m[f"ndcg@{K}"], m[f"ndcg@{K}_se"], beta, half_life))
    best, se = max(scored, key=lambda x: x[0])[:2]
    near = [x for x in scored if x[0] >= best - se]
    _, _, beta, half_life = min(near, key=lambda x: (x[2], -(x[3] or float("inf"))))
    return beta, half_life, trials


def fit(
    events: pd.DataFrame, showable: Collection[str] | None = None, settings: BasketSettings | None = None
) -> BoughtTogether:
    """Lists for every item bought in a basket with another; only `showable` items appear in them."""
    s = settings or BasketSettings()
    b = baskets(events, s.session_gap_minutes)
    beta, half_life, trials = choose(b, s) if b.n_baskets >= 20 else (0.0, None, {})
    assoc = Associations.count(b, half_life_days=half_life)
    # a hash lookup per item: np.isin over object arrays sorted the ids (5 s on a 20k-item catalog)
    allowed = None if showable is None else pd.Index(assoc.item_ids, dtype=object).isin(list(showable))
    ranked = assoc.rank(s.n, beta, s.min_support, s.min_lift, allowed)
    report = {
        "baskets": {
            "count": b.n_baskets,
            "by_order_id": b.by_order_id,
            "by_session": b.by_session,
            "session_gap_minutes": s.session_gap_minutes,
            "multi_item": int((np.bincount(b.basket, minlength=b.n_baskets) >= 2).sum()) if b.n_baskets else 0,
        },
        "thresholds": {"min_support_baskets": s.min_support, "min_lift": s.min_lift},
        "score": "baskets together (older ones halved every half-life) / baskets of the complement ** beta",
        "beta": beta,
        "half_life_days": half_life,
        "validation": {"split": f"last {VALIDATION_FRACTION:.0%} of baskets by time", "by_setting": trials},
    } | assoc.summary(ranked)
    return BoughtTogether(assoc, ranked, beta, half_life, report)
