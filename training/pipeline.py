"""The training job end to end: load, tune, evaluate on a time holdout, fit on all data, produce lists."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from training import columns as C
from training.errors import TrainingError
from training.evaluation import eval_users, evaluate, relevant_sets
from training.interactions import seen_matrix
from training.loading import LoadReport, load_events, load_items, load_users
from training.models.base import Recommender, top_k
from training.models.hybrid import CONTENT, Hybrid
from training.models.popularity import trending_scores
from training.offers.allocation import Allocation, allocate
from training.offers.catalog import OfferCatalog
from training.offers.catalog import load as load_offers
from training.prepare import Prepared, prepare
from training.segments.profiles import CustomerResult
from training.segments.profiles import build as build_customers
from training.split import time_holdout
from training.tuning import TuningResult, describe, tune

log = logging.getLogger(__name__)

EXCLUDE_POLICIES = {"purchased": {C.PURCHASE}, "interacted": None, "none": set()}


@dataclass
class RunConfig:
    events: Sequence[Path]
    items: Path
    users: Path | None = None
    top_n: int = 100
    similar_n: int = 20
    popular_n: int = 100
    exclude_seen: str = "purchased"
    event_weights: dict[str, float] = field(default_factory=lambda: dict(C.DEFAULT_EVENT_WEIGHTS))
    recency_half_life_days: float | None = None
    history_half_life: float | None = 10.0
    holdout_fraction: float = 0.2
    eval_users: int | None = 5000
    seed: int = 42
    as_of: pd.Timestamp | None = None
    offers: Path | None = None
    now: pd.Timestamp | None = None  # for offer validity windows; default: the wall clock
    cluster_range: tuple[int, int] = (2, 8)
    evaluate: bool = True
    progress: bool = True


@dataclass
class RunResult:
    """Everything the job produced, in external ids, ready to export, report and publish."""

    user_ids: np.ndarray
    rec_items: np.ndarray  # users x top_n external item ids ('' where padded)
    rec_scores: np.ndarray
    item_ids: np.ndarray
    similar_items: np.ndarray
    similar_scores: np.ndarray
    popular: dict[str, list[tuple[str, float]]]  # "" is the global list, else a category
    trending: dict[str, list[tuple[str, float]]]
    purchased: dict[str, list[str]]
    catalog: pd.DataFrame
    events: pd.DataFrame
    users_frame: pd.DataFrame | None
    report: dict
    customers: CustomerResult | None = None
    offers: Allocation | None = None
    offer_catalog: OfferCatalog | None = None


def exclusion(events: pd.DataFrame, prepared: Prepared, policy: str) -> sp.csr_matrix:
    """users x items mask of what the policy removes from a user's list."""
    if policy not in EXCLUDE_POLICIES:
        raise TrainingError(f"--exclude-seen must be one of {sorted(EXCLUDE_POLICIES)}, got '{policy}'")
    types = EXCLUDE_POLICIES[policy]
    if types is not None and not types:
        return sp.csr_matrix(prepared.data.interactions.shape, dtype=np.float32)
    return seen_matrix(events, prepared.users, prepared.items, types)


def _batches(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def build_hybrid(tuning: TuningResult, prepared: Prepared, fitted: dict[str, Recommender] | None = None) -> Hybrid:
    fitted = fitted if fitted is not None else {}
    components = {}
    for name, factory in tuning.models.items():
        if tuning.weights.get(name, 0.0) == 0.0 and name not in (CONTENT,):
            continue
        components[name] = fitted.get(name) or factory().fit(prepared.data)
    return Hybrid(components, tuning.weights, tuning.history_shrink).attach(prepared.data)


def load_inputs(config: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict[str, LoadReport]]:
    events, ev_report = load_events(config.events, tuple(config.event_weights))
    items, it_report = load_items(config.items)
    reports = {"events": ev_report, "items": it_report}
    users = None
    if config.users:
        users, reports["users"] = load_users(config.users)
    if events.empty:
        raise TrainingError(f"no usable events in {', '.join(map(str, config.events))}: {dict(ev_report.skipped)}")
    return events, items, users, reports


def run(config: RunConfig) -> RunResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # A bad offer catalog is rejected whole before any work, so it can never reach Redis.
    offer_catalog = load_offers(config.offers) if config.offers else None
    events, items, users_frame, load_reports = load_inputs(config)
    timings["load"] = time.perf_counter() - t0
    known = set(items[C.ITEM_ID])
    unknown_items = sorted(set(events[C.ITEM_ID].unique()) - known)

    report: dict = {
        "config": {
            "top_n": config.top_n,
            "exclude_seen": config.exclude_seen,
            "event_weights": config.event_weights,
            "recency_half_life_days": config.recency_half_life_days,
            "history_half_life": config.history_half_life,
            "holdout_fraction": config.holdout_fraction,
            "seed": config.seed,
        },
        "inputs": {k: r.to_dict() for k, r in load_reports.items()},
        "items_not_in_catalog": {"count": len(unknown_items), "examples": unknown_items[:20]},
    }
    report["inputs"]["events"]["users"] = int(events[C.USER_ID].nunique())
    report["inputs"]["events"]["items"] = int(events[C.ITEM_ID].nunique())
    report["inputs"]["events"]["by_type"] = {k: int(v) for k, v in events[C.EVENT].value_counts().items()}
    prep_kw = prepare_kwargs(config)

    tuning = tune_and_evaluate(events, items, config, report, timings)

    # 3. Final fit on all events and the lists to serve.
    t = time.perf_counter()
    full = prepare(events, items, **prep_kw)
    hybrid = build_hybrid(tuning, full)
    timings["final_fit"] = time.perf_counter() - t
    t = time.perf_counter()
    ex_full = exclusion(events, full, config.exclude_seen)
    catalog = catalog_frame(items, full.items.ids, full)
    # Items known only from events inform CF but are never shown: they have no title or category.
    allowed = (catalog["in_catalog"] & catalog[C.AVAILABLE]).to_numpy()
    rec_idx, rec_scores = batch_recommend(hybrid, ex_full, config.top_n, config.progress, allowed)
    sim_idx, sim_scores = batch_similar(hybrid, config.similar_n, config.progress, allowed)
    timings["batch_lists"] = time.perf_counter() - t
    popular, trending = popular_lists(full, config.popular_n, allowed)
    purchased = purchased_items(events)
    t = time.perf_counter()
    customers = build_customers(
        events, items, as_of=config.as_of, k_range=config.cluster_range, seed=config.seed, popular_n=config.popular_n
    )
    timings["customers"] = time.perf_counter() - t
    report["customers"] = customers.report
    allocation = None
    if offer_catalog is not None:
        t = time.perf_counter()
        recs = {str(u): [i for i in row if i] for u, row in zip(full.users.ids, _ids_or_blank(full.items.ids, rec_idx))}
        now = config.now if config.now is not None else pd.Timestamp.now(tz="UTC")
        allocation = allocate(offer_catalog, customers, events, items, recs, now)
        timings["offers"] = time.perf_counter() - t
        report["offers"] = {
            "holdout_pct": offer_catalog.holdout_pct,
            "max_offers_per_user": offer_catalog.max_offers_per_user,
            "campaigns": allocation.campaigns,
            "optimality": allocation.optimality,
        }

    item_ids = full.items.ids
    timings["total"] = time.perf_counter() - t0
    report["timings_seconds"] = timings
    report["output"] = {"users": len(full.users), "items": len(full.items), "categories": len(popular) - 1}
    return RunResult(
        user_ids=full.users.ids,
        rec_items=_ids_or_blank(item_ids, rec_idx),
        rec_scores=rec_scores,
        item_ids=item_ids,
        similar_items=_ids_or_blank(item_ids, sim_idx),
        similar_scores=sim_scores,
        popular=popular,
        trending=trending,
        purchased=purchased,
        catalog=catalog,
        events=events,
        users_frame=users_frame,
        report=report,
        customers=customers,
        offers=allocation,
        offer_catalog=offer_catalog,
    )


def prepare_kwargs(config: RunConfig) -> dict:
    return dict(
        weights=config.event_weights,
        half_life_days=config.recency_half_life_days,
        history_half_life=config.history_half_life,
    )


def tune_and_evaluate(
    events: pd.DataFrame, items: pd.DataFrame, config: RunConfig, report: dict, timings: dict[str, float]
) -> TuningResult:
    """Tune on a validation split of the training part, then evaluate on the test holdout."""
    prep_kw = prepare_kwargs(config)
    # 1. Validation split cut from the training part only; tune there.
    t = time.perf_counter()
    train, test = time_holdout(events, config.holdout_fraction)
    fit_part, valid = time_holdout(train, config.holdout_fraction)
    if fit_part.empty or valid.empty:
        raise TrainingError("too little history to tune: every user needs at least 3 events for a validation split")
    p_val = prepare(fit_part, items, **prep_kw)
    ex_val = exclusion(fit_part, p_val, config.exclude_seen)
    rel_val = relevant_sets(p_val, valid, ex_val)
    val_users = eval_users(rel_val, config.eval_users, config.seed)
    if len(val_users) == 0:
        raise TrainingError("no user has held-out validation events that the exclusion policy allows")
    tuning = tune(p_val.data, val_users, rel_val, ex_val, config.seed, config.progress)
    timings["tuning"] = time.perf_counter() - t
    report["tuning"] = {
        "validation_ndcg@10": tuning.validation,
        "chosen": tuning.params,
        "blend_weights": tuning.weights,
        "history_shrink": tuning.history_shrink,
        "trials": tuning.trials,
        "validation_users": int(len(val_users)),
    }

    # 2. Test evaluation: refit the chosen models on train, score the held-out test events.
    if config.evaluate:
        t = time.perf_counter()
        report["evaluation"] = evaluate_models(train, test, items, tuning, config, prep_kw)
        timings["evaluation"] = time.perf_counter() - t

    return tuning


def evaluate_models(
    train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame, tuning: TuningResult, config: RunConfig, prep_kw: dict
) -> dict:
    """Metrics of popularity, every single model and the hybrid on the test holdout, with fit times."""
    p = prepare(train, items, **prep_kw)
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
    return {
        "split": f"per user, last {config.holdout_fraction:.0%} of events by time held out (users with >= 2 events)",
        "train_events": int(len(train)),
        "test_events": int(len(test)),
        "users_evaluated": int(len(users)),
        "models": models,
    }


def _masked(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return scores


def batch_recommend(
    model: Recommender,
    exclude: sp.csr_matrix,
    n: int,
    progress: bool,
    allowed: np.ndarray | None = None,
    batch: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n per user over all users; `allowed` marks the items that may be shown at all."""
    n_users = exclude.shape[0]
    idx = np.full((n_users, n), -1, dtype=np.int64)
    val = np.full((n_users, n), np.nan, dtype=np.float32)
    for users in tqdm(list(_batches(n_users, batch)), desc="recommendations", disable=not progress, leave=False):
        idx[users], val[users] = top_k(_masked(model.score(users), allowed), n, exclude[users])
    return idx, val


def batch_similar(
    model: Recommender, n: int, progress: bool, allowed: np.ndarray | None = None, batch: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n similar items for every item (itself excluded)."""
    n_items = len(allowed) if allowed is not None else model.item_similarity(np.array([0])).shape[1]
    idx = np.full((n_items, n), -1, dtype=np.int64)
    val = np.full((n_items, n), np.nan, dtype=np.float32)
    for items in tqdm(list(_batches(n_items, batch)), desc="similar items", disable=not progress, leave=False):
        sims = _masked(model.item_similarity(items), allowed)
        sims[np.arange(len(items)), items] = -np.inf
        idx[items], val[items] = top_k(sims, n)
    return idx, val


def _top_list(ids: np.ndarray, scores: np.ndarray, n: int) -> list[tuple[str, float]]:
    order = np.argsort(-scores, kind="stable")[:n]
    return [(str(ids[i]), float(scores[i])) for i in order if scores[i] > 0]


def popular_lists(
    p: Prepared, n: int, allowed: np.ndarray | None = None
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, list[tuple[str, float]]]]:
    """Popular and trending lists, globally (key '') and per category."""
    from training.models.popularity import Popularity

    pop = Popularity().fit(p.data).item_scores
    trend = trending_scores(p.data)
    ids = p.items.ids
    cats = p.data.item_categories
    if allowed is not None:
        pop, trend = np.where(allowed, pop, 0.0), np.where(allowed, trend, 0.0)
    popular = {"": _top_list(ids, pop, n)}
    trending = {"": _top_list(ids, trend, n)}
    for cat in sorted(set(cats)):
        mask = cats == cat
        popular[cat] = _top_list(ids[mask], pop[mask], n)
        trending[cat] = _top_list(ids[mask], trend[mask], n)
    return popular, trending


def purchased_items(events: pd.DataFrame) -> dict[str, list[str]]:
    bought = events.loc[events[C.EVENT] == C.PURCHASE, [C.USER_ID, C.ITEM_ID]].drop_duplicates()
    return {u: list(g) for u, g in bought.groupby(C.USER_ID, sort=False)[C.ITEM_ID]}


def catalog_frame(items: pd.DataFrame, item_ids: np.ndarray, p: Prepared) -> pd.DataFrame:
    """Catalog over every item the lists may contain (items only seen in events get blank metadata)."""
    cat = items.set_index(C.ITEM_ID).reindex(pd.Index(item_ids, dtype=object))
    return pd.DataFrame(
        {
            C.ITEM_ID: item_ids,
            C.TITLE: cat[C.TITLE].fillna("").to_numpy(),
            C.CATEGORY: p.data.item_categories,
            C.AVAILABLE: cat[C.AVAILABLE].fillna(True).astype(bool).to_numpy(),
            C.PRICE: cat[C.PRICE].to_numpy(dtype=float),
            "in_catalog": cat[C.TITLE].notna().to_numpy(),
        }
    )


def _ids_or_blank(ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.where(idx >= 0, ids[np.clip(idx, 0, None)], "")
    return out.astype(object)


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
