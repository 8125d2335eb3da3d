"""Hyper-parameter and blend-weight selection on a validation split cut from the training data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from training.evaluation.holdout import K, score_metrics
from training.models.als import ALS
from training.models.base import Recommender, TrainingData
from training.models.content import ContentTFIDF
from training.models.ease import EASE
from training.models.ease import MAX_ITEMS as EASE_MAX_ITEMS
from training.models.hybrid import CONTENT, POPULARITY, blend
from training.models.itemknn import ItemKNN
from training.models.popularity import Popularity

METRIC = f"ndcg@{K}"
BLEND_STEPS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
HISTORY_SHRINKS = (0.0, 2.0, 5.0, 10.0)


def candidate_grid(n_items: int, seed: int) -> dict[str, list[Callable[[], Recommender]]]:
    """Per CF family, the configurations tried on validation (EASE only for small catalogs)."""
    grid: dict[str, list[Callable[[], Recommender]]] = {
        "als": [
            lambda: ALS(factors=64, regularization=0.05, random_state=seed),
            lambda: ALS(factors=128, regularization=0.5, alpha=4.0, random_state=seed),
        ],
        "itemknn": [lambda: ItemKNN(neighbours=50), lambda: ItemKNN(neighbours=200)],
    }
    if n_items <= EASE_MAX_ITEMS:
        grid["ease"] = [lambda: EASE(l2=200.0), lambda: EASE(l2=800.0), lambda: EASE(l2=2000.0)]
    return grid


def describe(model: Recommender) -> dict:
    """The model's hyper-parameters as plain values (for the report)."""
    return {
        k: v for k, v in vars(model).items() if not k.startswith("_") and isinstance(v, (int, float, str, type(None)))
    }


@dataclass
class TuningResult:
    models: dict[str, Callable[[], Recommender]]
    params: dict[str, dict]
    weights: dict[str, float]
    history_shrink: float
    validation: dict[str, float] = field(default_factory=dict)
    trials: list[dict] = field(default_factory=list)


# The blend tuned on MovieLens-100k (docs/benchmarks.md): what the hybrid uses untuned, when the ranking
# stage serves and the hybrid only gives the similar-items lists and stands in for uncovered customers.
DEFAULT_WEIGHTS = {"als": 0.5, "itemknn": 0.5, "ease": 1.0, "content": 1.0, "popularity": 0.0}
DEFAULT_HISTORY_SHRINK = 2.0


def default_tuning(n_items: int, seed: int) -> TuningResult:
    """Each family's first configuration and the default blend, without a validation run."""
    grid = candidate_grid(n_items, seed)
    models: dict[str, Callable[[], Recommender]] = {family: factories[0] for family, factories in grid.items()}
    models[CONTENT], models[POPULARITY] = ContentTFIDF, Popularity
    weights = {name: DEFAULT_WEIGHTS.get(name, 0.0) for name in models}
    params = {name: describe(factory()) for name, factory in models.items()}
    return TuningResult(models=models, params=params, weights=weights, history_shrink=DEFAULT_HISTORY_SHRINK)


def tune(
    data: TrainingData,
    users: np.ndarray,
    relevant: list[set[int]],
    exclude: sp.csr_matrix,
    seed: int = 42,
    progress: bool = True,
) -> TuningResult:
    """Pick each CF family's best configuration, then the blend weights, by validation NDCG@10."""
    grid = candidate_grid(data.n_items, seed)
    scores: dict[str, np.ndarray] = {}
    chosen: dict[str, Callable[[], Recommender]] = {}
    params: dict[str, dict] = {}
    trials: list[dict] = []
    validation: dict[str, float] = {}
    total = sum(len(v) for v in grid.values()) + 2
    bar = tqdm(total=total, desc="tuning", disable=not progress, leave=False)
    for family, factories in grid.items():
        best = -1.0
        for factory in factories:
            start = time.perf_counter()
            model = factory().fit(data)
            s = model.score(users)
            value = score_metrics(s, users, relevant, exclude)[METRIC]
            trials.append(
                {"model": family, "params": describe(model), METRIC: value, "seconds": time.perf_counter() - start}
            )
            if value > best:
                best, scores[family], chosen[family], params[family] = value, s, factory, describe(model)
            bar.update()
        validation[family] = best
    for name, model in ((CONTENT, ContentTFIDF()), (POPULARITY, Popularity())):
        model.fit(data)
        scores[name] = model.score(users)
        chosen[name] = type(model)
        params[name] = describe(model)
        validation[name] = score_metrics(scores[name], users, relevant, exclude)[METRIC]
        bar.update()
    bar.close()

    history = np.diff(data.interactions.indptr)[users]
    best_cf = max((f for f in grid), key=lambda f: validation[f])
    weights = {name: 0.0 for name in scores}
    weights[best_cf] = 1.0
    shrink = 5.0

    def value_of(w: dict[str, float], sh: float) -> float:
        if not any(w.values()):
            return -1.0
        return score_metrics(blend(scores, w, history, sh), users, relevant, exclude)[METRIC]

    best_value = value_of(weights, shrink)
    # Coordinate ascent over the weights (the best CF model stays the anchor at 1.0), then the shrink.
    for _ in range(2):
        improved = False
        for name in scores:
            if name == best_cf:
                continue
            for step in BLEND_STEPS:
                trial = dict(weights, **{name: step})
                v = value_of(trial, shrink)
                if v > best_value + 1e-5:
                    best_value, weights, improved = v, trial, True
        for sh in HISTORY_SHRINKS:
            v = value_of(weights, sh)
            if v > best_value + 1e-5:
                best_value, shrink, improved = v, sh, True
        if not improved:
            break
    validation["hybrid"] = best_value
    return TuningResult(
        models=chosen, params=params, weights=weights, history_shrink=shrink, validation=validation, trials=trials
    )
