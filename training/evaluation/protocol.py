"""The offline protocol: tune on a validation split cut from the training part, then evaluate every model
on the test holdout. Nothing chosen here ever looks at the test split."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from training.config import RunConfig
from training.data import columns as C
from training.data.prepare import Prepared, prepare
from training.evaluation.holdout import K, eval_users, evaluate, relevant_sets
from training.evaluation.ranking_metrics import catalog_coverage, ranking_metrics
from training.evaluation.shop_protocol import global_cut
from training.evaluation.split import time_holdout
from training.evaluation.tuning import METRIC, TuningResult, describe, tune
from training.failures import TrainingError
from training.lists import exclusion
from training.models.als import ALS, FittedFactors
from training.models.base import Recommender
from training.models.hybrid import CONTENT, Hybrid


@dataclass
class TuningReport:
    validation: dict[str, float]
    chosen: dict[str, dict]
    blend_weights: dict[str, float]
    history_shrink: float
    trials: list[dict]
    validation_users: int

    def to_dict(self) -> dict:
        return {
            f"validation_{METRIC}": self.validation,
            "chosen": self.chosen,
            "blend_weights": self.blend_weights,
            "history_shrink": self.history_shrink,
            "trials": self.trials,
            "validation_users": self.validation_users,
        }


@dataclass
class EvaluationReport:
    split: str
    train_events: int
    test_events: int
    users_evaluated: int
    models: dict[str, dict] = field(default_factory=dict)  # model -> metrics at 10, fit seconds, params

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "train_events": self.train_events,
            "test_events": self.test_events,
            "users_evaluated": self.users_evaluated,
            "models": self.models,
        }


def build_hybrid(tuning: TuningResult, prepared: Prepared, fitted: dict[str, Recommender] | None = None) -> Hybrid:
    """The tuned blend on `prepared`, reusing models already fitted on the same data."""
    fitted = fitted if fitted is not None else {}
    components = {}
    for name, factory in tuning.models.items():
        if tuning.weights.get(name, 0.0) == 0.0 and name not in (CONTENT,):
            continue
        components[name] = fitted.get(name) or factory().fit(prepared.data)
    return Hybrid(components, tuning.weights, tuning.history_shrink).attach(prepared.data)


def adopted_models(tuning: TuningResult, prepared: Prepared, als: FittedFactors | None) -> dict[str, Recommender]:
    """The hybrid's models another stage has fitted already on `prepared`'s matrix: its ALS, when the ranking
    stage's serving source learned the same matrix with the same settings (compared, not assumed)."""
    if als is None or tuning.weights.get("als", 0.0) == 0.0 or "als" not in tuning.models:
        return {}
    model = tuning.models["als"]()
    data = prepared.data
    if isinstance(model, ALS) and model.adopt(als, data.interactions, prepared.users.ids, prepared.items.ids):
        return {"als": model}
    return {}


def split(events: pd.DataFrame, config: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): with `test_from` / `test_days`, a global time split (the shop protocol: everything from
    the cut is the test); else per user, the last `holdout_fraction` of their events by time."""
    if config.test_from is not None or config.test_days is not None:
        cut = global_cut(events, config.test_from, config.test_days)
        train, test = events[events[C.TIMESTAMP] < cut], events[events[C.TIMESTAMP] >= cut]
        if train.empty or test.empty:
            raise TrainingError(f"the test split from {cut} leaves no training or no test events")
        return train, test
    return time_holdout(events, config.holdout_fraction)


def split_description(config: RunConfig) -> str:
    if config.test_from is not None:
        return f"global time split: events from {config.test_from} are the test"
    if config.test_days is not None:
        return f"global time split: the last {config.test_days:g} days of events are the test"
    return f"per user, last {config.holdout_fraction:.0%} of events by time held out (users with >= 2 events)"


def evaluate_shop(
    train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame, config: RunConfig, setting: dict | None = None
) -> dict:
    """The shop protocol's table (training/evaluation/shop_protocol.py) for the ranking stage, its sources
    and the peers, on a seeded sample of at most `eval_users` test customers. `setting`: the ranker setting
    the serving run chose (only it is tried again on the training part, instead of the whole grid)."""
    from training.evaluation import shop_protocol
    from training.ranking.stage import StageConfig

    full = shop_protocol.from_parts(train, test)
    sample = full.sample(config.eval_users, config.seed)
    stage_config = StageConfig(grid=(setting,)) if setting else None
    out = shop_protocol.evaluate_stage(
        sample, items, config.top_n, config.seed, config.event_weights, stage_config=stage_config
    )
    return {
        "split": split_description(config),
        "customers": len(full.truth_all),
        "customers_evaluated": len(sample.truth_all),
        "repeat_share": round(full.repeat_share(), 4),
    } | out


def tune_on_validation(
    train: pd.DataFrame, items: pd.DataFrame, config: RunConfig
) -> tuple[TuningResult, TuningReport]:
    """Each model's configuration and the blend weights, chosen on a validation split cut from `train`."""
    fit_part, valid = time_holdout(train, config.holdout_fraction)
    if fit_part.empty or valid.empty:
        raise TrainingError("too little history to tune: every user needs at least 3 events for a validation split")
    p_val = prepare(fit_part, items, **config.prepare_kwargs())
    ex_val = exclusion(fit_part, p_val, config.exclude_seen)
    rel_val = relevant_sets(p_val, valid, ex_val)
    val_users = eval_users(rel_val, config.eval_users, config.seed)
    if len(val_users) == 0:
        raise TrainingError("no user has held-out validation events that the exclusion policy allows")
    tuning = tune(p_val.data, val_users, rel_val, ex_val, config.seed, config.progress)
    report = TuningReport(
        validation=tuning.validation,
        chosen=tuning.params,
        blend_weights=tuning.weights,
        history_shrink=tuning.history_shrink,
        trials=tuning.trials,
        validation_users=int(len(val_users)),
    )
    return tuning, report


def evaluate_on_test(
    train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame, tuning: TuningResult, config: RunConfig
) -> EvaluationReport:
    """Metrics of popularity, every single model and the hybrid on the test holdout, with fit times."""
    p = prepare(train, items, **config.prepare_kwargs())
    ex = exclusion(train, p, config.exclude_seen)
    rel = relevant_sets(p, test, ex)
    users = eval_users(rel, config.eval_users, config.seed)
    models: dict[str, dict] = {}
    fitted: dict[str, Recommender] = {}
    for name, factory in tqdm(tuning.models.items(), desc="evaluating", disable=not config.progress, leave=False):
        start = time.perf_counter()
        model = factory().fit(p.data)
        fit_s = time.perf_counter() - start
        fitted[name] = model
        models[name] = evaluate(model, users, rel, ex) | {"fit_seconds": fit_s, "params": describe(model)}
    start = time.perf_counter()
    hybrid = build_hybrid(tuning, p, fitted)
    models["hybrid"] = evaluate(hybrid, users, rel, ex) | {
        "fit_seconds": sum(models[n]["fit_seconds"] for n in hybrid.components) + time.perf_counter() - start,
        "params": {"weights": tuning.weights, "history_shrink": tuning.history_shrink},
    }
    if config.evaluate_ranking:
        start = time.perf_counter()
        models["ranking"] = ranking_on_holdout(train, items, p, users, rel, ex, config) | {
            "fit_seconds": time.perf_counter() - start
        }
    return EvaluationReport(
        split=split_description(config),
        train_events=int(len(train)),
        test_events=int(len(test)),
        users_evaluated=int(len(users)),
        models=models,
    )


def ranking_on_holdout(
    train: pd.DataFrame,
    items: pd.DataFrame,
    p: Prepared,
    users: np.ndarray,
    relevant: list[set[int]],
    exclude: sp.csr_matrix,
    config: RunConfig,
) -> dict:
    """The ranking stage fitted on `train`, its lists filtered by the same exclusion as every other model
    (so it sits in the same table as the hybrid, e.g. on MovieLens where seen items are excluded)."""
    from training.ranking.stage import rank

    result = rank(train, items, top_n=config.top_n, seed=config.seed, event_weights=config.event_weights)
    idx = np.full((len(users), K), -1, dtype=np.int64)
    rows = pd.Index(result.user_ids).get_indexer(pd.Index(p.users.ids[users]))
    to_p = p.items.to_index(result.code_ids, missing_ok=True)  # stage item code -> index in `p`
    for out_row, (u, r) in enumerate(zip(users, rows)):
        if r < 0:
            continue
        codes = result.item_codes[r]
        cand = to_p[codes[codes >= 0]]
        skip = set(exclude[u].indices.tolist())
        picks = [i for i in cand if i >= 0 and i not in skip][:K]
        idx[out_row, : len(picks)] = picks
    out = ranking_metrics(idx, [relevant[u] for u in users], K)
    out[f"coverage@{K}"] = catalog_coverage(idx, exclude.shape[1], K)
    rep = result.report
    out["params"] = {"mode": rep["mode"], "layout": rep.get("layout"), "why": rep.get("why", "")}
    return out
