"""The training job end to end, as orchestration only: load, tune and evaluate, fit on all data, build the
lists, customers and offers. Each stage lives in its own package; this module says in which order."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.beside import Beside
from training.beside_work import BesideResult, customers_of, work_beside
from training.candidates.history import repurchase_days
from training.config import RunConfig
from training.data import columns as C
from training.data import privacy
from training.data.loading import LoadReport, check_reference_date, load_events, load_items, load_users
from training.data.prepare import prepare
from training.evaluation.protocol import (
    adopted_models,
    build_hybrid,
    evaluate_on_test,
    evaluate_shop,
    split,
    tune_on_validation,
)
from training.evaluation.tuning import default_tuning
from training.failures import BadInputError, TrainingError
from training.lists import (
    batch_recommend,
    batch_similar,
    catalog_frame,
    exclusion,
    external_ids,
    popular_lists,
    purchased_items,
)
from training.memory import available_bytes, release_unused
from training.merchandising.build import Merchandising, margin_weight
from training.merchandising.build import build as build_merchandising
from training.merchandising.margin import margin_tradeoff
from training.merchandising.rules_file import load as load_rules
from training.offers.allocation import Allocation, allocate
from training.offers.catalog import OfferCatalog
from training.offers.catalog import load as load_offers
from training.ranking.serving import served_lists
from training.ranking.stage import rank
from training.run_report import RunReport
from training.segments.profiles import CustomerResult
from training.threads import available_cpus

__all__ = ["Engine", "RunConfig", "RunResult", "run", "load_inputs"]


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
    report: RunReport
    customers: CustomerResult | None = None
    offers: Allocation | None = None
    offer_catalog: OfferCatalog | None = None
    merchandising: Merchandising | None = None
    rec_reasons: np.ndarray | None = None  # users x top_n reason codes of the ranking stage ('' where padded)
    buy_again: np.ndarray | None = None  # users x top_n own past purchases in the stage's order ("order again")
    buy_again_scores: np.ndarray | None = None
    # The lists as internal item indexes into item_ids (-1 where padded): the publisher maps them to
    # catalog positions with one numpy call instead of one id lookup per item.
    rec_index: np.ndarray | None = None
    similar_index: np.ndarray | None = None
    # Writes the per-user lists of some users itself (the Spark engine's executors) into the version being
    # published; returns those users (training/publish/redis_publisher.py writes the others).
    user_lists_writer: Callable | None = None


@dataclass
class Engine:
    """Where the stages that scale with the customers run: the local functions (LOCAL, below) or Spark's
    (training/spark/engine.py), with the same signatures and results."""

    load_inputs: Callable
    rank: Callable  # training.ranking.stage.rank's signature (events, items, *, top_n, seed, event_weights, progress)
    evaluate_shop: Callable
    # The shop evaluation may run in a copy of the interpreter beside the serving stage (not Spark's: its
    # stage runs on the session the serving stage uses).
    evaluates_beside: bool = False


def load_inputs(config: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict[str, LoadReport]]:
    events, ev_report = load_events(config.events, tuple(config.event_weights), config.input_rules)
    items, it_report = load_items(config.items, config.input_rules)
    reports = {"events": ev_report, "items": it_report}
    users = None
    if config.users:
        users, reports["users"] = load_users(config.users, config.input_rules)
    events, reports["privacy"] = privacy.apply(events, config)  # erased customers and profiling opt-outs out
    if events.empty:
        raise BadInputError(f"no usable events in {', '.join(map(str, config.events))}: {dict(ev_report.skipped)}")
    check_reference_date(config.as_of, events)
    return events, items, users, reports


def _input_summary(events: pd.DataFrame, load_reports: dict[str, LoadReport]) -> dict[str, dict]:
    inputs = {k: r.to_dict() for k, r in load_reports.items()}
    inputs["events"]["users"] = int(events[C.USER_ID].nunique())
    inputs["events"]["items"] = int(events[C.ITEM_ID].nunique())
    inputs["events"]["by_type"] = {k: int(v) for k, v in events[C.EVENT].value_counts().items()}
    return inputs


MIN_USER_EVENTS = 3  # a validation split needs a user with history before and after its cut


# A working set of the ranking stage, generously (measured peaks: 1.7 GB at 0.4M events, 3.5 GB at 2.3M,
# 7.2 GB at 12.6M): the evaluation runs beside the serving stage when three of them fit in what is free.
WORKING_SET_BYTES = 2 * 1024**3
WORKING_SET_BYTES_PER_EVENT = 600


def evaluation_beside(config: RunConfig, engine: Engine, n_events: int) -> bool:
    """Whether the ranking stage's evaluation runs in a copy of the interpreter beside the serving stage:
    asked for, or left to the job (None) and two CPUs or more and room for three working sets (the two
    processes' and as much again to spare: the estimate is rough and other programs share the memory)."""
    if not (config.ranking and config.evaluate and engine.evaluates_beside) or config.evaluate_beside is False:
        return False
    if config.evaluate_beside:
        return True
    free = available_bytes()
    need = 3 * (WORKING_SET_BYTES + WORKING_SET_BYTES_PER_EVENT * n_events)
    return available_cpus() >= 2 and free is not None and free >= need


def run(config: RunConfig, engine: Engine | None = None) -> RunResult:
    started: list[Beside] = []
    try:
        return _run(config, engine or LOCAL, started)
    except BaseException:
        for job in started:  # the job failed: what ran beside it is not wanted
            job.cancel()
        raise


def _run(config: RunConfig, engine: Engine, started: list[Beside]) -> RunResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # A bad offer catalog is rejected whole before any work, so it can never reach Redis.
    offer_catalog = load_offers(config.offers) if config.offers else None
    rules = load_rules(config.rules) if config.rules else None
    events, items, _, load_reports = engine.load_inputs(config)
    release_unused()  # the raw tables' pages: a few times the validated frame, never used again
    timings["load"] = time.perf_counter() - t0
    unknown_items = sorted(set(events[C.ITEM_ID].unique()) - set(items[C.ITEM_ID]))
    report = RunReport(
        config=config.summary(),
        inputs=_input_summary(events, load_reports),
        items_not_in_catalog={"count": len(unknown_items), "examples": unknown_items[:20]},
    )

    # 1. The hybrid: tuned on a validation split cut from the training part and evaluated on the test
    # holdout when it serves; when the ranking stage serves, it only gives the similar-items lists (and
    # stands in for customers the stage does not cover), with the default blend.
    train = test = None
    if config.evaluate or not config.ranking:
        train, test = split(events, config)
    tuning = None
    if config.ranking and events[C.USER_ID].value_counts().max() < MIN_USER_EVENTS:
        # what the hybrid's tuning needs and the stage's label windows need more of: no model learns here
        raise TrainingError(f"too little history: no user has {MIN_USER_EVENTS} events or more")
    if not config.ranking:
        t = time.perf_counter()
        tuning, report.tuning = tune_on_validation(train, items, config)
        timings["tuning"] = time.perf_counter() - t
        if config.evaluate:
            t = time.perf_counter()
            report.evaluation = evaluate_on_test(train, test, items, tuning, config)
            timings["evaluation"] = time.perf_counter() - t

    # The ranking stage's test-holdout evaluation, bought together and the customers need nothing the serving
    # stage computes: in a copy of the interpreter they run on the other CPU meanwhile.
    beside = None
    if evaluation_beside(config, engine, len(events)):
        share = max(1, available_cpus() // 2)
        beside = Beside(work_beside, engine.evaluate_shop, events, items, config, cpus=share, name="second")
        started.append(beside)

    # 2. The learned ranking, which serves; first, so that its peak (its contexts and a block of candidate
    # features) never coincides with the hybrid's models, which are only needed after it.
    stage = None
    if config.ranking:
        t = time.perf_counter()
        top_n, weights = config.top_n, config.event_weights
        stage = engine.rank(
            events, items, top_n=top_n, seed=config.seed, event_weights=weights, progress=config.progress
        )
        release_unused()
        timings["ranking"] = time.perf_counter() - t

    # 3. Final fit on all events and the lists to serve.
    t = time.perf_counter()
    full = prepare(events, items, **config.prepare_kwargs())
    if tuning is None:
        tuning = default_tuning(len(full.items), config.seed)
    adopted = adopted_models(tuning, full, stage.als if stage is not None else None)
    if stage is not None:
        stage.als = None  # the stage's matrix and factors: the hybrid holds its own order of them now
    hybrid = build_hybrid(tuning, full, adopted)
    timings["final_fit"] = time.perf_counter() - t
    margin = margin_tradeoff(train, test, items, tuning, config, margin_weight(rules)) if config.evaluate else None
    t = time.perf_counter()
    catalog = catalog_frame(items, full.items.ids, full)
    catalog["repurchase_days"] = catalog[C.ITEM_ID].map(repurchase_days(events)).to_numpy(dtype=float)
    # Items known only from events inform CF but are never shown: they have no title or category.
    allowed = (catalog["in_catalog"] & catalog[C.AVAILABLE]).to_numpy()
    excluded = exclusion(events, full, config.exclude_seen)
    purchased = purchased_items(events)
    served = None
    hybrid_users = np.arange(len(full.users))
    if stage is not None:  # the hybrid's lists stand in for the users the stage does not cover
        hybrid_users = np.flatnonzero(pd.Index(stage.user_ids).get_indexer(pd.Index(full.users.ids)) < 0)
    t = time.perf_counter()
    rec_idx = rec_scores = rec_items = None  # the stage covers everyone: no hybrid rows (660 MB at 330k users)
    if stage is None or len(hybrid_users):
        rec_idx, rec_scores = batch_recommend(
            hybrid, excluded, config.top_n, config.progress, allowed, users=hybrid_users
        )
        rec_items = external_ids(full.items.ids, rec_idx)
    sim_idx, sim_scores = batch_similar(hybrid, config.similar_n, config.progress, allowed)
    timings["batch_lists"] = time.perf_counter() - t
    popular, trending = popular_lists(full, config.popular_n, allowed)
    if stage is not None:
        served = served_lists(
            stage,
            events,
            full.users.ids,
            config.exclude_seen,
            rec_items,
            rec_scores,
            purchased,
            rec_idx,
            full.items.ids,
        )
        rec_items, rec_scores, purchased, rec_idx = served.items, served.scores, served.purchased, served.index
        report.ranking = served.report
        setting = stage.report.get("setting")
        del stage  # what the served lists do not share of its arrays (new items, codes) is not needed again
        release_unused()
        if config.evaluate and beside is None:
            t = time.perf_counter()
            # The local evaluation chooses its ranker grid again on the training part wherever it runs (its
            # figures do not depend on the machine's memory); Spark's tries the serving stage's setting only.
            reuse = None if engine.evaluates_beside else setting
            report.shop_evaluation = engine.evaluate_shop(train, test, items, config, reuse)
            report.shop_evaluation["ran"] = "after the serving stage" + (", with its ranker setting" if reuse else "")
            timings["evaluation"] = time.perf_counter() - t
    side: BesideResult | None = None
    if beside is not None:
        t = time.perf_counter()
        side = beside.result()
        timings["beside_wait"] = time.perf_counter() - t  # what the job still waited for the copy
        timings |= side.seconds
        report.shop_evaluation = side.shop_evaluation
        report.shop_evaluation["ran"] = "beside the serving stage, in another process"
    t = time.perf_counter()
    merchandising = build_merchandising(
        events, catalog, config, rules, margin if config.evaluate else None, side.bought_together if side else None
    )
    report.merchandising = merchandising.report
    timings["merchandising"] = time.perf_counter() - t

    # 4. Customers (RFM, clusters, lifecycle, CLV) and the offers allocated to them.
    if side is not None:
        customers = side.customers
    else:
        t = time.perf_counter()
        customers = customers_of(events, items, config)
        timings["customers"] = time.perf_counter() - t
    report.customers = customers.report
    allocation = None
    if offer_catalog is not None:
        t = time.perf_counter()
        recs = {str(u): [i for i in row if i] for u, row in zip(full.users.ids, rec_items)}
        now = config.now if config.now is not None else pd.Timestamp.now(tz="UTC")
        allocation = allocate(offer_catalog, privacy.marketable(customers, config), events, items, recs, now)
        timings["offers"] = time.perf_counter() - t
        report.offers = {
            "holdout_pct": offer_catalog.holdout_pct,
            "max_offers_per_user": offer_catalog.max_offers_per_user,
            "campaigns": allocation.campaigns,
            "optimality": allocation.optimality,
        }

    timings["total"] = time.perf_counter() - t0
    report.timings_seconds = timings
    report.output = {"users": len(full.users), "items": len(full.items), "categories": len(popular) - 1}
    report.output["hybrid_models_adopted"] = sorted(adopted)  # from the ranking stage instead of fitted again
    return RunResult(
        user_ids=full.users.ids,
        rec_items=rec_items,
        rec_scores=rec_scores,
        item_ids=full.items.ids,
        similar_items=external_ids(full.items.ids, sim_idx),
        similar_scores=sim_scores,
        popular=popular,
        trending=trending,
        purchased=purchased,
        catalog=catalog,
        events=events,
        report=report,
        customers=customers,
        offers=allocation,
        offer_catalog=offer_catalog,
        merchandising=merchandising,
        rec_reasons=served.reasons if served else None,
        buy_again=served.buy_again_items if served else None,
        buy_again_scores=served.buy_again_scores if served else None,
        # the lists as item indexes (the publisher maps a block at once; without them, id by id)
        rec_index=rec_idx,
        similar_index=sim_idx,
    )


LOCAL = Engine(load_inputs=load_inputs, rank=rank, evaluate_shop=evaluate_shop, evaluates_beside=True)
