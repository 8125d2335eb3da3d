"""The ranking stage end to end: candidates from every source, a LambdaRank ranker learned on windows cut
from the training data, reasons and buy-again lists. One call: `rank(events, items, top_n=..., seed=...)`.

Time layout (W = `window_days`, the end = the last event):

    ...history...  | window 1 | window 2 | window 3 (validation) | serve
                cut - 2W   cut - W      cut                     end

- Window k: a context of the events before its start; its labels are the items each known customer
  bought inside it. Features never see the window (the context drops later events before anything
  is computed).
- Up to `max_windows` windows (fewer when the history is short; two at least for a ranker).
- Choice: each grid setting is trained on all windows but the last and scored on the last one at a
  few round counts; the best by NDCG@10 over the last window's full truth is compared with the blend
  (reciprocal-rank fusion of the sources) there, and the better one serves. The test split of an
  evaluation is never touched: it is not in the events this function gets.
- The serving ranker is refitted on all windows with the chosen setting and rounds, and scores
  candidates whose features are recomputed on all events.
- When the time windows are too thin (customers who do not come back across windows, as in a film
  catalog where each customer rates in one session), the windows are per-customer holdouts instead:
  each customer's last `user_holdout` of events are the labels (and the same again inside the rest
  for the validation fit), as in the job's own split. `report["layout"]` says which.
- Too little data either way (a window with fewer than `min_queries` customers that have a positive
  among their candidates, or fewer than `min_positives` positives): no ranker; the blend serves and
  the report says why.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from tqdm import tqdm

from training.arrays import order_by_group_then_score, unique_sorted
from training.candidates.base import Context, build_context, buyer_counts, sparse_pairs
from training.candidates.cf import ALSSource
from training.candidates.union import (
    QUOTAS,
    fit_sources,
    fused_ranks,
    make_sources,
    propose,
    shortlisted,
    source_names,
    source_recall,
    table_of,
    union,
)
from training.data import columns as C
from training.evaluation.split import time_holdout
from training.memory import release_unused
from training.models.als import FittedFactors
from training.ranking import ranker as R
from training.ranking.features import FeatureBuilder
from training.ranking.reasons import AnchorSimilarity
from training.ranking.reasons import reasons as reason_codes
from training.threads import at_most as threads_at_most
from training.threads import cpus

BLEND_HISTORY_WEIGHTS = (1.0, 4.0, 16.0, 64.0)  # 64: history first, almost a buy-again list


SERVE_BLOCK = 5000  # customers scored at once when serving (a block of candidates and features: ~0.4 GB at 5,000)
SERVE_WORKERS = 2  # serving blocks scored at once, at most (and at most one per CPU)
GRID_WORKERS = 2  # ranker grid settings fitted at once, at most (and at most one per CPU this process has)


@dataclass
class StageConfig:
    """Knobs of the stage; the defaults are what the job uses for every shop."""

    window_days: float = 28.0
    min_window_days: float = 3.0
    max_windows: int = 3
    max_queries: int | None = 3000  # labelled customers kept per window (a seeded sample): bounds the cost
    user_holdout: float = 0.2
    min_buyers_once: int = 10  # see drop_never_rebought
    quotas: dict[str, int] = field(default_factory=lambda: dict(QUOTAS))
    min_queries: int = 50
    min_positives: int = 200
    neg_per_query: int = 100
    # Pairs per customer the features and the ranker see: the customer's own items and the `shortlist`
    # best of the others by fused source ranks (None: every proposed pair). Windows and serving alike.
    shortlist: int | None = 150
    grid: tuple[dict, ...] = R.GRID
    max_rounds: int = R.MAX_ROUNDS
    event_weights: dict[str, float] | None = None


@dataclass
class RankResult:
    """Lists for every user, best first, padded to top_n.

    The recommendations (`items`, `scores`, `reasons`: reason codes, see `training.ranking.reasons`); the
    customer's own past purchases ordered by the same model (`buy_again_*`: the "order again" widget); the
    items the customer never bought, in the same order (`new_*`: a "discover" widget, and what the main list
    becomes when a storefront excludes the customer's purchases at request time). The lists are held as
    int32 indexes into `code_ids` (-1 padded); `items`, `buy_again_items` and `new_items` give them as
    external ids ('' padded) when asked (as object arrays they were 2.4 KB a customer, 0.8 GB at 330k).
    `report` holds the windows, candidate recall per source, the grid and the chosen setting, validation
    metrics of ranker and blend, feature importances and timings.
    """

    user_ids: np.ndarray
    code_ids: np.ndarray  # the external item ids the codes index
    item_codes: np.ndarray
    scores: np.ndarray  # float32, NaN padded
    reasons: np.ndarray  # object, '' padded
    buy_again_codes: np.ndarray
    buy_again_scores: np.ndarray
    new_codes: np.ndarray
    new_scores: np.ndarray
    report: dict
    # With rank(keep_candidates=True): the serving candidate table (u, i, s_<source>, r_<source>) in the
    # internal indices of `context` (evaluation: per-source lists and candidate recall).
    candidates: pd.DataFrame | None = None
    context: Context | None = None
    # The serving ALS source's factors, for the hybrid's final fit on the same events (which adopts them
    # when its ALS would learn the same matrix with the same settings: training/models/als.py).
    als: FittedFactors | None = None

    @classmethod
    def of_ids(
        cls, user_ids: np.ndarray, items: np.ndarray, buy_again: np.ndarray, new: np.ndarray, **rest
    ) -> RankResult:
        """A result from padded arrays of external ids ('' padded), as the Spark engine collects them."""
        codes, code_ids = pd.factorize(np.concatenate([items.ravel(), buy_again.ravel(), new.ravel()]))
        code_ids = np.asarray(code_ids, dtype=object)
        blank = np.flatnonzero(code_ids == "")
        codes = np.where(np.isin(codes, blank), -1, codes).astype(np.int32)
        a, b = items.size, items.size + buy_again.size
        return cls(
            user_ids=user_ids,
            code_ids=code_ids,
            item_codes=codes[:a].reshape(items.shape),
            buy_again_codes=codes[a:b].reshape(buy_again.shape),
            new_codes=codes[b:].reshape(new.shape),
            **rest,
        )

    @property
    def items(self) -> np.ndarray:
        return _ids_of(self.code_ids, self.item_codes)

    @property
    def buy_again_items(self) -> np.ndarray:
        return _ids_of(self.code_ids, self.buy_again_codes)

    @property
    def new_items(self) -> np.ndarray:
        return _ids_of(self.code_ids, self.new_codes)

    def lists(self) -> dict[str, list[str]]:
        return _lists(self.user_ids, self.code_ids, self.item_codes)

    def buy_again_lists(self) -> dict[str, list[str]]:
        return _lists(self.user_ids, self.code_ids, self.buy_again_codes)

    def new_lists(self) -> dict[str, list[str]]:
        return _lists(self.user_ids, self.code_ids, self.new_codes)


def _ids_of(code_ids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Padded codes as external ids ('' for -1): one new object array and no other of its size."""
    out = code_ids[np.maximum(codes, 0)] if len(code_ids) else np.full(codes.shape, "", dtype=object)
    out[codes < 0] = ""
    return out


def _lists(user_ids: np.ndarray, code_ids: np.ndarray, codes: np.ndarray) -> dict[str, list[str]]:
    return {str(u): code_ids[row[row >= 0]].tolist() for u, row in zip(user_ids, codes)}


def _end_of(events: pd.DataFrame) -> pd.Timestamp:
    return events[C.TIMESTAMP].max() + pd.Timedelta(microseconds=1)


def _window(
    history: pd.DataFrame,
    later: pd.DataFrame,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    names: list[str],
    cfg: StageConfig,
    seed: int,
    timings: dict[str, float],
) -> tuple[R.Window, dict]:
    """Candidates, features and labels of one window: features from `history`'s events before as_of, labels from
    `later`."""
    t = time.perf_counter()
    ctx = build_context(history, items, as_of, cfg.event_weights)
    if (later[C.EVENT] == C.PURCHASE).any():
        later = later[later[C.EVENT] == C.PURCHASE]
    truth = label_sets(ctx, later)
    if cfg.max_queries and len(truth) > cfg.max_queries:
        keep = np.random.default_rng(seed).choice(np.array(sorted(truth)), cfg.max_queries, replace=False)
        truth = {int(k): truth[int(k)] for k in np.sort(keep)}
    timings["context"] = timings.get("context", 0.0) + time.perf_counter() - t
    return labelled_window(ctx, make_sources(names, seed), truth, as_of, names, cfg, timings)


def _time_windows(
    events: pd.DataFrame,
    items: pd.DataFrame,
    bounds: list[pd.Timestamp],
    names: list[str],
    cfg: StageConfig,
    seed: int,
    timings: dict[str, float],
) -> tuple[list[R.Window], list[dict]]:
    """One labelled window per pair of bounds: what came before `start` as history, [start, stop) as labels."""
    windows: list[R.Window] = []
    infos: list[dict] = []
    ts = events[C.TIMESTAMP]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        later = events[(ts >= start) & (ts < stop)]
        # all events as history: the context keeps those before `start` (no copy of the earlier ones here)
        window, info = _window(events, later, items, start, names, cfg, seed, timings)
        windows.append(window)
        infos.append(info | {"end": str(stop)})
        release_unused()  # the window's context (its matrices and fitted sources) is gone by now
    return windows, infos


def label_sets(ctx: Context, later: pd.DataFrame) -> dict[int, set[int]]:
    """Per known customer (index in `ctx`), the known items of `later` (ids; unknown ones dropped)."""
    u = ctx.users.to_index(later[C.USER_ID], missing_ok=True)
    i = ctx.items.to_index(later[C.ITEM_ID], missing_ok=True)
    ok = (u >= 0) & (i >= 0)
    truth: dict[int, set[int]] = {}
    for uu, ii in zip(u[ok].tolist(), i[ok].tolist()):
        truth.setdefault(uu, set()).add(ii)
    return {k: truth[k] for k in sorted(truth)}


def labelled_window(
    ctx: Context,
    sources: list,
    truth: dict[int, set[int]],
    as_of: pd.Timestamp,
    names: list[str],
    cfg: StageConfig,
    timings: dict[str, float],
) -> tuple[R.Window, dict]:
    """The window of `truth`'s customers on `ctx`: the sources fitted, their candidates' union, features and
    labels, and what the report says of it. Shared by the local stage and the Spark one."""
    bought = ctx.bought
    truth_new = {
        uu: s - set(bought.indices[bought.indptr[uu] : bought.indptr[uu + 1]].tolist()) for uu, s in truth.items()
    }
    fit_sources(sources, ctx, timings)
    users = np.array(sorted(truth), dtype=np.int64)
    keys, ranks = propose(sources, users, ctx.n_items, cfg.quotas, timings)
    truth_keys = np.array([uu * ctx.n_items + ii for uu, s in truth.items() for ii in s], dtype=np.int64)
    proposed_recall = float(np.isin(truth_keys, keys).mean()) if len(truth_keys) else 0.0
    keys, ranks = shortlisted(keys, ranks, ctx.n_items, cfg.shortlist)
    table = drop_never_rebought(table_of(sources, keys, ranks, ctx.n_items, timings), ctx, cfg.min_buyers_once)
    t = time.perf_counter()
    feats = FeatureBuilder(ctx).build(table, names)
    timings["features"] = timings.get("features", 0.0) + time.perf_counter() - t
    keys = table["u"].to_numpy() * ctx.n_items + table["i"].to_numpy()
    label = np.isin(keys, truth_keys).astype(np.float32)
    w = R.Window(table=table, features=feats, label=label, truth=truth, truth_new=truth_new)
    info = {
        "as_of": str(as_of),
        "customers": len(truth),
        "customers_with_a_positive_candidate": int(len(unique_sorted(table["u"].to_numpy()[label > 0]))),
        "pairs": int(len(table)),
        "positives": w.positives,
        "truth_pairs": int(sum(len(s) for s in truth.values())),
        "proposed_recall": round(proposed_recall, 4),  # every source's proposals, before the shortlist
        "candidate_recall": source_recall(table, truth, names),
        "candidate_recall_new": source_recall(table, truth_new, names),
        "candidates_per_customer": round(len(table) / max(len(truth), 1), 1),
    }
    return w, info


def _user_windows(
    events: pd.DataFrame, items: pd.DataFrame, names: list[str], cfg: StageConfig, seed: int, timings: dict
) -> tuple[list[R.Window], list[dict]]:
    """Two windows from per-customer holdouts: (the holdout of the holdout's history, the holdout)."""
    hist1, later1 = time_holdout(events, cfg.user_holdout)
    hist2, later2 = time_holdout(hist1, cfg.user_holdout)
    out, infos = [], []
    for hist, later in ((hist2, later2), (hist1, later1)):
        if hist.empty or later.empty:
            return [], []
        w, info = _window(hist, later, items, _end_of(hist), names, cfg, seed, timings)
        out.append(w)
        infos.append(info | {"holdout": f"per customer, last {cfg.user_holdout:.0%} of events"})
    return out, infos


def never_rebought(ctx: Context, min_buyers: int) -> np.ndarray:
    """Items nobody buys twice (a sofa): bought by at least `min_buyers` customers and by none of them on a
    second day, or, for items with fewer buyers, in a category where that holds over all its buyers (a
    rarely sold sofa is still a sofa)."""
    buyers, repeat = buyer_counts(ctx)
    cat = ctx.item_category
    n_cat = int(cat.max()) + 1 if len(cat) else 0
    cat_buyers = np.bincount(cat, weights=buyers, minlength=n_cat)
    cat_repeat = np.bincount(cat, weights=repeat, minlength=n_cat)
    item_once = (buyers >= min_buyers) & (repeat == 0)
    category_once = (buyers > 0) & (repeat == 0) & (cat_buyers[cat] >= min_buyers) & (cat_repeat[cat] == 0)
    return item_once | category_once


def drop_never_rebought(table: pd.DataFrame, ctx: Context, min_buyers: int) -> pd.DataFrame:
    """Remove the customer's own purchases of items nobody ever bought again from the candidates.

    Learned per item from the data, not a switch: milk has repeat buyers and stays, a sofa bought by
    40 customers and never twice is not shown again to its owners (in any list position); an item
    with fewer buyers than `min_buyers` is left to the ranker. In a catalog without repeats
    (MovieLens) this removes every own item, which is what seen-item exclusion did by hand.
    """
    if not len(table) or not min_buyers:
        return table
    once = never_rebought(ctx, min_buyers)
    u, i = table["u"].to_numpy(), table["i"].to_numpy()
    owned = sparse_pairs(ctx.bought, u, i) > 0
    keep = ~(owned & once[i])
    return table[keep].reset_index(drop=True) if not keep.all() else table


def blend_scores(table: pd.DataFrame, names: list[str], history_weight: float = 1.0) -> np.ndarray:
    """Reciprocal-rank fusion of the table's ranks: sum over proposing sources of w / (rank + offset),
    history weighted apart."""
    return fused_ranks({name: table[f"r_{name}"].to_numpy() for name in names}, {"history": history_weight})


def _usable(info: dict, cfg: StageConfig) -> bool:
    return info["customers_with_a_positive_candidate"] >= cfg.min_queries and info["positives"] >= cfg.min_positives


def _layout(events: pd.DataFrame, cfg: StageConfig, cut: pd.Timestamp | None) -> tuple[list[pd.Timestamp], float]:
    """Window boundaries, oldest first, ending with [cut, end).

    Up to `max_windows` windows of W days, each with at least one W of history before it; W shrinks
    to a quarter of the span for short histories (two windows and two W of history).
    """
    first, end = events[C.TIMESTAMP].min(), _end_of(events)
    span_days = (end - first).total_seconds() / 86400.0
    w = cfg.window_days if cut is not None else min(cfg.window_days, span_days / 4.0)
    if cut is None:
        cut = end - pd.Timedelta(days=w)
    room = (cut - first).total_seconds() / 86400.0  # history before the last window
    n_before = int(max(0, min(cfg.max_windows - 1, np.floor(room / w) - 1))) if w > 0 else 0
    bounds = [cut - pd.Timedelta(days=w * k) for k in range(n_before, 0, -1)] + [cut, end]
    return bounds, w


def _fit_grid(fit_windows: list[R.Window], valid: R.Window, cfg: StageConfig, seed: int) -> list[tuple]:
    """Per grid setting, in grid order: (best rounds, validation metrics, training rows, seconds).

    The settings are fitted side by side, one LightGBM thread each (LightGBM releases the GIL, and
    independent boosters share no OpenMP barrier, unlike one booster on two threads on a loaded
    machine); each booster is the same as fitted alone.
    """

    def fit(params: dict) -> tuple:
        t = time.perf_counter()
        max_rounds = min(cfg.max_rounds, params.get("max_rounds", cfg.max_rounds))
        booster, n_rows = R.train(fit_windows, params, seed, cfg.neg_per_query, max_rounds)
        rounds, m = R.best_checkpoint(booster, valid)
        return rounds, m, n_rows, round(time.perf_counter() - t, 2)

    workers = max(1, min(len(cfg.grid), GRID_WORKERS, cpus()))
    if workers == 1:
        return [fit(params) for params in cfg.grid]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fit, cfg.grid))


def learn(
    windows: list[R.Window],
    infos: list[dict],
    names: list[str],
    cfg: StageConfig,
    seed: int,
    report: dict,
    timings: dict[str, float],
):
    """The serving model from the label windows: (booster or None for the blend, the blend's history weight).

    Fills the report's mode (and why), blend validation, grid, validation and ranker sections.
    """
    mode, why = "ranker", ""
    if len(windows) < 2:
        mode, why = "blend", f"history too short for two label windows of at least {cfg.min_window_days} days"
    elif not all(_usable(info, cfg) for info in infos):
        limits = f">= {cfg.min_queries} customers with a positive candidate and >= {cfg.min_positives} positives"
        mode, why = "blend", f"too little labelled data: each window (by time or by customer) needs {limits}"
    history_weight = BLEND_HISTORY_WEIGHTS[0]
    if windows and windows[-1].queries:
        trials = {
            hw: R.window_metrics(windows[-1], blend_scores(windows[-1].table, names, hw))
            for hw in BLEND_HISTORY_WEIGHTS
        }
        history_weight = max(BLEND_HISTORY_WEIGHTS, key=lambda hw: (trials[hw]["all_ndcg@10"], -hw))
        report["blend_validation"] = {str(hw): _short(m) for hw, m in trials.items()}
    report["blend_history_weight"] = history_weight
    booster = None
    if mode == "ranker":
        fit_windows, valid = windows[:-1], windows[-1]
        t = time.perf_counter()
        grid_report = []
        best = None
        for params, (rounds, m, n_rows, seconds) in zip(cfg.grid, _fit_grid(fit_windows, valid, cfg, seed)):
            grid_report.append({"params": params, "rounds": rounds, "rows": n_rows, "seconds": seconds} | _short(m))
            if best is None or m["all_ndcg@10"] > best[1]["all_ndcg@10"] + 1e-9:
                best = (params, m, rounds)
        timings["ranker_grid"] = time.perf_counter() - t
        report["grid"] = grid_report
        params, val_m, rounds = best
        report["setting"] = params  # the grid entry that won (an evaluation run may reuse it alone)
        blend_m = R.window_metrics(valid, blend_scores(valid.table, names, history_weight))
        report["validation"] = {"ranker": _short(val_m), "blend": _short(blend_m)}
        if val_m["all_ndcg@10"] < blend_m["all_ndcg@10"]:
            mode, why = "blend", "the blend beat the ranker on the validation window"
        else:
            t = time.perf_counter()
            final_rounds = int(np.ceil(rounds * 1.1))  # a little more data than the validation fit
            booster, n_rows = R.train(windows, params, seed, cfg.neg_per_query, final_rounds)
            timings["ranker_fit"] = time.perf_counter() - t
            report["ranker"] = {
                "params": dict(R.BASE_PARAMS, seed=seed, **{k: v for k, v in params.items() if k != "max_rounds"}),
                "rounds": final_rounds,
                "training_rows": n_rows,
                "training_windows": len(windows),
                "importances": R.importances(booster),
            }
    report["mode"] = mode
    if why:
        report["why"] = why
    return booster, history_weight


def rank(
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    top_n: int = 100,
    seed: int = 42,
    cut: pd.Timestamp | None = None,
    config: StageConfig | None = None,
    users: list[str] | None = None,
    event_weights: dict[str, float] | None = None,
    keep_candidates: bool = False,
    progress: bool = False,
) -> RankResult:
    """Recommendations, reasons and buy-again lists for every user in `events` (or `users`).

    `events` and `items` are validated frames (`training.loading`); `cut` moves the start of the last
    training window (default: the end minus `window_days`). Same inputs and seed -> identical lists.
    """
    cfg = config or StageConfig()
    if event_weights is not None:
        cfg = replace(cfg, event_weights=dict(event_weights))
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    report: dict = {"config": {"window_days": cfg.window_days, "quotas": cfg.quotas, "seed": seed}}
    end = _end_of(events)
    t = time.perf_counter()
    serve_ctx = build_context(events, items, end, cfg.event_weights)
    timings["context"] = time.perf_counter() - t
    names = source_names(serve_ctx)
    report["sources"] = names
    bounds, w_days = _layout(events, cfg, cut)
    report["window_days"] = w_days
    windows, infos = [], []
    if w_days >= cfg.min_window_days and len(bounds) >= 3:
        windows, infos = _time_windows(events, items, bounds, names, cfg, seed, timings)
    layout = "time"
    if not (len(windows) >= 2 and all(_usable(info, cfg) for info in infos)):
        # Customers who do not come back across windows (one session each, as in a film catalog): learn
        # from each customer's own last events instead, as the per-user holdout of the job does.
        user_windows, user_infos = _user_windows(events, items, names, cfg, seed, timings)
        if len(user_windows) >= 2 and all(_usable(info, cfg) for info in user_infos):
            report["time_windows"] = infos
            windows, infos, layout = user_windows, user_infos, "user"
    report["windows"] = infos
    report["layout"] = layout
    booster, history_weight = learn(windows, infos, names, cfg, seed, report, timings)
    del windows
    release_unused()  # the windows' contexts and candidate tables, before serving allocates its own

    # Serving: candidates and features on all events.
    sources = make_sources(names, seed)
    fit_sources(sources, serve_ctx, timings)
    if users is None:
        serve_users = np.arange(serve_ctx.n_users, dtype=np.int64)
    else:
        serve_users = serve_ctx.users.to_index(users, missing_ok=True)
        serve_users = serve_users[serve_users >= 0]
    builder = FeatureBuilder(serve_ctx)
    similarity = AnchorSimilarity({s.name: s for s in sources})
    # Customers in blocks: a few hundred candidates x ~60 features each would not fit in memory for
    # every customer of a big shop at once (330k customers: ~100M pairs). The evaluation keeps the
    # candidates of its (sampled) customers, in one block.
    block = max(len(serve_users) if keep_candidates else SERVE_BLOCK, 1)
    chunks = [serve_users[start : start + block] for start in range(0, max(len(serve_users), 1), block)]

    def serve(chunk: np.ndarray) -> tuple[RankResult, int, pd.DataFrame | None, dict[str, float]]:
        spent: dict[str, float] = {}
        table = union(sources, chunk, serve_ctx.n_items, cfg.quotas, spent, cfg.shortlist)
        table = drop_never_rebought(table, serve_ctx, cfg.min_buyers_once)
        t = time.perf_counter()
        feats = builder.build(table, names, reuse=True)  # gone before this thread's next block
        spent["features"] = time.perf_counter() - t
        t = time.perf_counter()
        if booster is not None:
            # the booster is shared: LightGBM's predictions of one model at one number of trees are
            # thread-safe (its maintainers, LightGBM issue 666)
            scores = booster.predict(feats, num_threads=min(R.PREDICT_THREADS, cpus()))
        else:
            scores = blend_scores(table, names, history_weight)
        spent["predict"] = time.perf_counter() - t
        t = time.perf_counter()
        part = _assemble(serve_ctx, sources, table, feats, scores, chunk, top_n, cfg, similarity)
        spent["assemble"] = time.perf_counter() - t
        del feats, scores
        release_unused()
        return part, len(table), table if keep_candidates else None, spent

    # The blocks are independent: side by side on the CPUs (most of a block is numpy, which lets go of the
    # interpreter's lock), each thread on its share of them. The first block runs alone: what the sources
    # build on first use (an ANN index, cached arrays) is made once.
    workers = max(1, min(SERVE_WORKERS, cpus(), len(chunks)))
    share = max(1, cpus() // workers)
    parts: list[RankResult] = []
    pairs = 0
    kept: pd.DataFrame | None = None  # the one block's candidates, with keep_candidates
    bar = tqdm(total=len(serve_users), desc="ranking: serving", unit=" customers", disable=not progress, leave=False)

    def collect(result: tuple[RankResult, int, pd.DataFrame | None, dict[str, float]]) -> None:
        nonlocal pairs, kept
        part, n_pairs, kept, spent = result
        parts.append(part)
        pairs += n_pairs
        bar.update(len(part.user_ids))
        for k, v in spent.items():
            timings[k] = timings.get(k, 0.0) + v

    collect(serve(chunks[0]))
    if len(chunks) > 1:

        def serve_share(chunk: np.ndarray) -> tuple[RankResult, int, pd.DataFrame | None, dict[str, float]]:
            with threads_at_most(share):
                return serve(chunk)

        if workers == 1:
            for chunk in chunks[1:]:
                collect(serve(chunk))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(serve_share, chunks[1:]):
                    collect(result)
    bar.close()
    result = _concat(parts)
    timings["total"] = time.perf_counter() - t_all
    report["serving"] = {
        "users": int(len(serve_users)),
        "pairs": int(pairs),
        "candidates_per_user": round(pairs / max(len(serve_users), 1), 1),
    }
    approximate = {s.name: s.ann for s in sources if getattr(s, "ann", None)}
    if approximate:  # sources that searched an index instead of every item, with their measured recall
        report["serving"]["approximate_search"] = approximate
    report["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    result.report = report
    result.als = next((s.fitted_factors() for s in sources if isinstance(s, ALSSource)), None)
    if keep_candidates:
        result.candidates, result.context = kept, serve_ctx
    return result


def _concat(parts: list[RankResult]) -> RankResult:
    """One result from the results of consecutive blocks of customers."""
    if len(parts) == 1:
        return parts[0]
    arrays = (
        "user_ids", "item_codes", "scores", "reasons", "buy_again_codes", "buy_again_scores", "new_codes", "new_scores",
    )  # fmt: skip
    joined = {}
    for name in arrays:
        joined[name] = np.concatenate([getattr(p, name) for p in parts])
        for p in parts:  # each field's blocks go once joined: the peak is the result and one field, not twice it
            setattr(p, name, None)
    return RankResult(**joined, report={}, code_ids=parts[0].code_ids)


def _short(m: dict) -> dict:
    return {k: round(float(v), 4) for k, v in m.items() if k.endswith("ndcg@10") or k.endswith("recall@10")}


def _assemble(
    ctx: Context,
    sources: list,
    table: pd.DataFrame,
    feats: pd.DataFrame,
    scores: np.ndarray,
    users: np.ndarray,
    top_n: int,
    cfg: StageConfig,
    similarity: AnchorSimilarity | None = None,
) -> RankResult:
    """Top-n per user with reasons, and the buy-again and discover lists, as padded arrays of item codes
    (`similarity`: the sources' anchor similarities, made once for every block)."""
    u = table["u"].to_numpy()
    i = table["i"].to_numpy()
    order = order_by_group_then_score(u, scores)  # the table is sorted by (u, i): ties to the lower item
    u_s, i_s, sc_s = u[order], i[order], scores[order]
    bought_s = feats["ui_days"].to_numpy()[order] > 0
    pos = np.empty(len(order), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, u_s[1:] != u_s[:-1]]) if len(u_s) else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, len(u_s)])
    pos = np.arange(len(u_s)) - np.repeat(starts, counts)
    row_of = {int(x): r for r, x in enumerate(users)}
    rows = np.array([row_of[int(x)] for x in u_s[starts]], dtype=np.int64) if len(starts) else np.zeros(0, np.int64)
    row_idx = np.repeat(rows, counts)
    n_users = len(users)
    rec_scores = np.full((n_users, top_n), np.nan, dtype=np.float32)
    rec_reasons = np.full((n_users, top_n), "", dtype=object)
    top = pos < top_n
    rec_codes = np.full((n_users, top_n), -1, dtype=np.int32)
    rec_codes[row_idx[top], pos[top]] = i_s[top]
    rec_scores[row_idx[top], pos[top]] = sc_s[top]
    sel = order[top]
    rows_frame = table.iloc[sel][["u", "i"] + [c for c in table.columns if c.startswith("r_")]].copy()
    rows_frame["ui_days"] = feats["ui_days"].to_numpy()[sel]
    codes = reason_codes(ctx, {s.name: s for s in sources}, rows_frame, cfg.quotas, similarity)
    rec_reasons[row_idx[top], pos[top]] = codes

    def subset(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Padded top-n arrays (item codes, scores) of the sorted rows in `mask`, in the model's order."""
        b_u, b_i, b_s, b_rows = u_s[mask], i_s[mask], sc_s[mask], row_idx[mask]
        b_starts = np.flatnonzero(np.r_[True, b_u[1:] != b_u[:-1]]) if len(b_u) else np.zeros(0, np.int64)
        b_pos = np.arange(len(b_u)) - np.repeat(b_starts, np.diff(np.r_[b_starts, len(b_u)]))
        vals = np.full((n_users, top_n), np.nan, dtype=np.float32)
        keep = b_pos < top_n
        vals[b_rows[keep], b_pos[keep]] = b_s[keep]
        codes = np.full((n_users, top_n), -1, dtype=np.int32)
        codes[b_rows[keep], b_pos[keep]] = b_i[keep]
        return codes, vals

    again_codes, again_scores = subset(bought_s)  # "order again": own purchases only
    new_codes, new_scores = subset(~bought_s)  # "discover": never bought by the customer
    return RankResult(
        user_ids=ctx.users.ids[users],
        code_ids=ctx.items.ids,
        item_codes=rec_codes,
        scores=rec_scores,
        reasons=rec_reasons,
        buy_again_codes=again_codes,
        buy_again_scores=again_scores,
        new_codes=new_codes,
        new_scores=new_scores,
        report={},
    )
