"""The ranking stage (training/ranking/stage.py) on Spark.

- Item-level inputs of every context (each label window's and the serving one) are fitted over all
  customers with Spark (training/spark/item_models.py).
- The ranker learns on the driver, as the local stage does, from the label windows of a seeded sample of
  customers (`StageConfig.max_queries` per window, the local stage's own sample): their events are
  collected and their candidates and features computed with the local code on a context of just them
  plus the item-level state (training.candidates.item_state.ItemLevel).
- Serving runs on the executors: customers are hashed into buckets, and each bucket (its customers'
  events, cogrouped with their ALS factors) builds its own context with the broadcast item-level state
  and runs the local candidates, features, ranker and list assembly. Per customer, one row: the served
  list (the `--exclude-seen` policy applied as training/ranking/serving.py does), reasons, "order again",
  "discover", and the purchases the service's request-time filter removes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.candidates.item_state import ItemLevel
from training.candidates.union import fit_sources, union
from training.data import columns as C
from training.ranking import ranker as R
from training.ranking import stage
from training.ranking.features import FeatureBuilder
from training.ranking.stage import StageConfig, blend_scores, drop_never_rebought
from training.spark import item_models as M
from training.spark.loading import SEQ, restore_types

BUCKET = "_bucket"
FACTOR_USER = "_factor_user"
SERVED_SCHEMA = (
    f"{C.USER_ID} string, covered boolean, items array<string>, scores array<float>, reasons array<string>, "
    "again array<string>, again_scores array<float>, new_items array<string>, new_scores array<float>, "
    "purchased array<string>, source_lists map<string, array<string>>, hits map<string, long>, candidates long"
)


@dataclass
class SparkRanking:
    """The served rows (a persisted DataFrame, one row per customer of the events) and the stage's report."""

    served: object
    report: dict


def _timestamp_bounds(events) -> tuple[pd.Timestamp, pd.Timestamp]:
    from pyspark.sql import functions as F

    row = events.agg(F.min(C.TIMESTAMP).alias("a"), F.max(C.TIMESTAMP).alias("b")).first()
    first, last = (pd.Timestamp(row[k]) for k in ("a", "b"))
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    return first, last


def _end(last: pd.Timestamp) -> pd.Timestamp:
    return last + pd.Timedelta(microseconds=1)


def _between(events, start: pd.Timestamp | None, stop: pd.Timestamp | None):
    from pyspark.sql import functions as F

    cond = F.lit(True)
    us = F.unix_micros(C.TIMESTAMP)
    if start is not None:
        cond = cond & (us >= F.lit(int(start.value // 1000)))
    if stop is not None:
        cond = cond & (us < F.lit(int(stop.value // 1000)))
    return events.where(cond)


def _collect(events) -> pd.DataFrame:
    """Events to the driver in the local loader's order and types."""
    pdf = events.orderBy(C.TIMESTAMP, SEQ).toPandas()
    return restore_types(pdf).drop(columns=[SEQ]).reset_index(drop=True)


def _factors_frame(user_factors) -> pd.DataFrame | None:
    if user_factors is None:
        return None
    pdf = user_factors.toPandas() if not isinstance(user_factors, pd.DataFrame) else user_factors
    if not len(pdf):
        return None
    return pd.DataFrame(np.stack(pdf["factors"].to_numpy()), index=pdf[C.USER_ID].astype(str).to_numpy())


def source_names(fitted: M.FittedContext, items: pd.DataFrame) -> list[str]:
    """training.candidates.union.source_names for the serving context, from its aggregates."""
    names = ["history"]
    if fitted.n_active_items <= M.EASE_MAX_ITEMS:
        names.append("ease")
    names += ["itemknn", "als", "copurchase"]
    if fitted.has_views:
        names.append("coview")
    names.append("category")
    catalog = items.drop_duplicates(C.ITEM_ID, keep="last").set_index(C.ITEM_ID).reindex(pd.Index(fitted.items.ids))
    brand = catalog[C.BRAND].fillna("").astype(str) if C.BRAND in catalog else pd.Series("", index=catalog.index)
    if (brand != "").mean() > 0.5:
        names.append("brand")
    return names + ["popular", "trending"]


def _window(
    spark,
    history,
    later,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    names: list[str],
    cfg: StageConfig,
    seed: int,
    timings: dict[str, float],
) -> tuple[R.Window, dict]:
    """training.ranking.stage._window for the label customers of the window (the same seeded sample)."""
    from pyspark.sql import functions as F

    weights = dict(cfg.event_weights or C.DEFAULT_EVENT_WEIGHTS)
    t = time.perf_counter()
    fitted = M.fit_context(spark, history, items, as_of, weights, names, seed)
    for k, v in fitted.timings.items():
        timings[k] = timings.get(k, 0.0) + v
    t = time.perf_counter()
    if later.where(F.col(C.EVENT) == C.PURCHASE).limit(1).count():
        later = later.where(F.col(C.EVENT) == C.PURCHASE)
    known_users = M.context_events(history, as_of, weights).select(C.USER_ID).distinct()
    known_items = spark.createDataFrame(pd.DataFrame({C.ITEM_ID: fitted.items.ids.astype(str)}))
    pairs = (
        later.select(C.USER_ID, C.ITEM_ID)
        .join(known_users, C.USER_ID, "left_semi")
        .join(F.broadcast(known_items), C.ITEM_ID, "left_semi")
        .distinct()
        .toPandas()
    )
    label_users = np.array(sorted(pairs[C.USER_ID].astype(str).unique()), dtype=object)
    if cfg.max_queries and len(label_users) > cfg.max_queries:
        keep = np.random.default_rng(seed).choice(label_users, cfg.max_queries, replace=False)
        label_users = np.sort(keep)
    chosen = spark.createDataFrame(pd.DataFrame({C.USER_ID: label_users.astype(str)}))
    hist = _collect(history.join(F.broadcast(chosen), C.USER_ID, "left_semi"))
    factors = None
    if fitted.user_factors is not None:
        factors = _factors_frame(fitted.user_factors.join(F.broadcast(chosen), C.USER_ID, "left_semi"))
    level = ItemLevel(fitted.items, fitted.state, fitted.models, factors)
    ctx = level.context(hist, items, as_of, weights)
    truth = stage.label_sets(ctx, pairs[pairs[C.USER_ID].isin(set(label_users))].astype(str))
    timings["context"] = timings.get("context", 0.0) + time.perf_counter() - t
    return stage.labelled_window(ctx, level.sources(names, ctx, seed), truth, as_of, names, cfg, timings)


def time_holdout(events, fraction: float):
    """training.evaluation.split.time_holdout on Spark: per customer, the last `fraction` of events by time
    (at least one; customers with one event stay in training); ties in input order."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(C.USER_ID).orderBy(C.TIMESTAMP, SEQ)
    ranked = events.withColumn("_pos", F.row_number().over(w) - 1).withColumn(
        "_n", F.count(F.lit(1)).over(Window.partitionBy(C.USER_ID))
    )
    n_test = F.when(F.col("_n") >= 2, F.greatest(F.lit(1.0), F.floor(F.col("_n") * F.lit(fraction)))).otherwise(0)
    ranked = ranked.withColumn("_test", F.col("_pos") >= F.col("_n") - n_test)
    drop = ["_pos", "_n", "_test"]
    return ranked.where(~F.col("_test")).drop(*drop), ranked.where(F.col("_test")).drop(*drop)


def _user_windows(spark, events, items, names, cfg, seed, timings):
    hist1, later1 = time_holdout(events, cfg.user_holdout)
    hist2, later2 = time_holdout(hist1, cfg.user_holdout)
    out, infos = [], []
    for hist, later in ((hist2, later2), (hist1, later1)):
        if not hist.limit(1).count() or not later.limit(1).count():
            return [], []
        w, info = _window(spark, hist, later, items, _end(_timestamp_bounds(hist)[1]), names, cfg, seed, timings)
        out.append(w)
        infos.append(info | {"holdout": f"per customer, last {cfg.user_holdout:.0%} of events"})
    return out, infos


@dataclass
class _Serving:
    """The broadcast of the serving step: everything a bucket needs besides its customers' events."""

    level: ItemLevel
    items: pd.DataFrame
    as_of: pd.Timestamp
    names: list[str]
    cfg: StageConfig
    seed: int
    top_n: int
    booster: str | None
    history_weight: float
    policy: str
    users: set[str] | None
    truth: dict[str, tuple[set[str], set[str]]] | None  # evaluation: per customer (all, new) test items


def _serve_bucket(payload):
    """applyInPandas function over (events, ALS factors) of one bucket of customers."""

    def serve(events: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
        job: _Serving = payload.value
        ev = restore_types(events.drop(columns=[BUCKET]))
        ev = ev.sort_values([C.TIMESTAMP, SEQ], kind="stable").drop(columns=[SEQ]).reset_index(drop=True)
        factors = factors.rename(columns={FACTOR_USER: C.USER_ID})
        level = replace(job.level, user_factors=_factors_frame(factors) if len(factors) else None)
        ctx = level.context(ev, job.items, job.as_of, job.cfg.event_weights)
        rows = _rank_customers(job, level, ctx, ev)
        return rows

    return serve


def _rank_customers(job: _Serving, level: ItemLevel, ctx, ev: pd.DataFrame) -> pd.DataFrame:
    cfg = job.cfg
    sources = level.sources(job.names, ctx, job.seed)
    fit_sources(sources, ctx)
    serve_users = np.arange(ctx.n_users, dtype=np.int64)
    if job.users is not None:
        serve_users = serve_users[np.isin(ctx.users.ids, np.array(sorted(job.users), dtype=object))]
    table = union(sources, serve_users, ctx.n_items, cfg.quotas, limit=cfg.shortlist)
    table = drop_never_rebought(table, ctx, cfg.min_buyers_once)
    feats = FeatureBuilder(ctx).build(table, job.names)
    if job.booster is not None:
        import lightgbm as lgb

        scores = lgb.Booster(model_str=job.booster).predict(feats, num_threads=1)
    else:
        scores = blend_scores(table, job.names, job.history_weight)
    result = stage._assemble(ctx, sources, table, feats, scores, serve_users, job.top_n, cfg)
    return _served_rows(job, result, table, ctx, ev)


def _row_list(row: np.ndarray) -> list[str]:
    return [str(x) for x in row if x]


def _scores_list(items: np.ndarray, scores: np.ndarray) -> list[float]:
    return [float(s) for x, s in zip(items, scores) if x]


def _served_rows(job: _Serving, result, table: pd.DataFrame, ctx, ev: pd.DataFrame) -> pd.DataFrame:
    """One row per customer of `ev`, the policy of training/ranking/serving.served_lists applied."""
    bought = ev.loc[ev[C.EVENT] == C.PURCHASE, [C.USER_ID, C.ITEM_ID]].drop_duplicates()
    purchased = {u: list(g) for u, g in bought.groupby(C.USER_ID, sort=False)[C.ITEM_ID]}
    seen = ev.groupby(C.USER_ID)[C.ITEM_ID].agg(set).to_dict() if job.policy == "interacted" else {}
    main = job.policy in ("auto", "none")
    sources = _source_lists(table, ctx, job.names) if job.truth is not None else {}
    counts = np.bincount(table["u"].to_numpy(dtype=np.int64), minlength=ctx.n_users)
    per_user = dict(zip(ctx.users.ids.astype(str).tolist(), counts.tolist()))
    out = []
    covered = set()
    # the id arrays made once (the result holds item codes; each property call makes a whole array)
    new_ids, again_ids = result.new_items, result.buy_again_items
    listed, listed_scores = (result.items, result.scores) if main else (new_ids, result.new_scores)
    for row, user in enumerate(result.user_ids):
        user = str(user)
        covered.add(user)
        src_items, src_scores = listed[row], listed_scores[row]
        items, scores = _row_list(src_items), _scores_list(src_items, src_scores)
        if job.policy == "interacted" and seen.get(user):
            keep = [k for k, x in enumerate(items) if x not in seen[user]]
            items, scores = [items[k] for k in keep], [scores[k] for k in keep]
        got = purchased.get(user)  # None: bought nothing (no purchased key, as the local publisher)
        if job.policy == "auto" and got is not None:
            shown = set(items)
            got = [x for x in got if x not in shown]
        entry = {
            C.USER_ID: user,
            "covered": True,
            "items": items,
            "scores": scores,
            "reasons": [str(x) for x in result.reasons[row] if x] if main else [],
            "again": _row_list(again_ids[row]),
            "again_scores": _scores_list(again_ids[row], result.buy_again_scores[row]),
            "new_items": _row_list(new_ids[row]),
            "new_scores": _scores_list(new_ids[row], result.new_scores[row]),
            "purchased": got,
            "source_lists": sources.get(user, {}),
            "hits": _hits(job, user, table, ctx, row, result) if job.truth is not None else {},
            "candidates": int(per_user.get(user, 0)),
        }
        out.append(entry)
    if job.users is None:
        for user in sorted(set(ev[C.USER_ID].astype(str)) - covered):
            out.append(
                {
                    C.USER_ID: user,
                    "covered": False,
                    "items": [],
                    "scores": [],
                    "reasons": [],
                    "again": [],
                    "again_scores": [],
                    "new_items": [],
                    "new_scores": [],
                    "purchased": purchased.get(user),
                    "source_lists": {},
                    "hits": {},
                    "candidates": 0,
                }
            )
    columns = [c.split()[0] for c in re.split(r",\s*(?=[a-z_]+ )", SERVED_SCHEMA)]
    frame = pd.DataFrame(out, columns=columns)
    return frame


def _source_lists(table: pd.DataFrame, ctx, names: list[str], k: int = 10) -> dict[str, dict[str, list[str]]]:
    """training.evaluation.shop_protocol.source_lists, per customer."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in names:
        col = f"r_{name}"
        part = table.loc[table[col].notna(), ["u", "i", col]].sort_values(["u", col], kind="stable")
        part = part.groupby("u", sort=False).head(k)
        for u, g in part.groupby("u", sort=False):
            out.setdefault(str(ctx.users.ids[u]), {})[name] = [str(x) for x in ctx.items.ids[g["i"].to_numpy()]]
    return out


def _hits(job: _Serving, user: str, table: pd.DataFrame, ctx, row: int, result) -> dict[str, int]:
    """Test pairs of the customer each source proposed (all and new items): candidate recall's numerators."""
    truth_all, truth_new = job.truth.get(user, (set(), set()))
    uu = int(ctx.users.to_index([user])[0])
    mine = table[table["u"].to_numpy() == uu]
    ids = ctx.items.ids[mine["i"].to_numpy()].astype(str)
    out = {}
    for kind, truth in (("all", truth_all), ("new", truth_new)):
        known = {x for x in truth if x in ctx.items}
        hit = np.isin(ids, np.array(sorted(known), dtype=object)) if known else np.zeros(len(ids), bool)
        out[f"{kind}:truth"] = len(known)
        out[f"{kind}:all"] = int(hit.sum())
        for name in job.names:
            out[f"{kind}:{name}"] = int((hit & mine[f"r_{name}"].notna().to_numpy()).sum())
    return out


def bucket_count(n_events: int, spark) -> int:
    """Buckets of customers: a few per core, and at most ~200k events each (one bucket is one pandas frame)."""
    cores = spark.sparkContext.defaultParallelism
    return int(max(2 * cores, min(4096, n_events // 200_000 + 1)))


def rank(
    spark,
    events,
    items: pd.DataFrame,
    *,
    top_n: int = 100,
    seed: int = 42,
    config: StageConfig | None = None,
    users: list[str] | None = None,
    event_weights: dict[str, float] | None = None,
    policy: str = "auto",
    truth: dict[str, tuple[set[str], set[str]]] | None = None,
) -> SparkRanking:
    """training.ranking.stage.rank on Spark: the served rows of every customer (or of `users`)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    cfg = config or StageConfig()
    if event_weights is not None:
        cfg = replace(cfg, event_weights=dict(event_weights))
    weights = dict(cfg.event_weights or C.DEFAULT_EVENT_WEIGHTS)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    report: dict = {"config": {"window_days": cfg.window_days, "quotas": cfg.quotas, "seed": seed}}
    first, last = _timestamp_bounds(events)
    end = _end(last)
    t = time.perf_counter()
    serve = M.fit_context(spark, events, items, end, weights, None, seed)
    names = source_names(serve, items)
    for k, v in serve.timings.items():
        timings[f"serve_{k}"] = v
    timings["serve_item_models"] = time.perf_counter() - t
    report["sources"] = names
    span = pd.DataFrame({C.TIMESTAMP: [first, last]})
    bounds, w_days = stage._layout(span, cfg, None)
    report["window_days"] = w_days
    windows: list[R.Window] = []
    infos: list[dict] = []
    t = time.perf_counter()
    if w_days >= cfg.min_window_days and len(bounds) >= 3:
        for start, stop in zip(bounds[:-1], bounds[1:]):
            later = _between(events, start, stop)
            w, info = _window(spark, _between(events, None, start), later, items, start, names, cfg, seed, timings)
            windows.append(w)
            infos.append(info | {"end": str(stop)})
    layout = "time"
    if not (len(windows) >= 2 and all(stage._usable(info, cfg) for info in infos)):
        user_windows, user_infos = _user_windows(spark, events, items, names, cfg, seed, timings)
        if len(user_windows) >= 2 and all(stage._usable(info, cfg) for info in user_infos):
            report["time_windows"] = infos
            windows, infos, layout = user_windows, user_infos, "user"
    timings["windows"] = time.perf_counter() - t
    report["windows"] = infos
    report["layout"] = layout
    t = time.perf_counter()
    booster, history_weight = stage.learn(windows, infos, names, cfg, seed, report, timings)
    timings["learn"] = time.perf_counter() - t
    del windows

    t = time.perf_counter()
    job = _Serving(
        level=ItemLevel(serve.items, serve.state, serve.models),
        items=items,
        as_of=end,
        names=names,
        cfg=cfg,
        seed=seed,
        top_n=top_n,
        booster=booster.model_to_string() if booster is not None else None,
        history_weight=history_weight,
        policy=policy,
        users=set(map(str, users)) if users is not None else None,
        truth=truth,
    )
    payload = spark.sparkContext.broadcast(job)
    n_buckets = bucket_count(events.count(), spark)
    bucket = F.pmod(F.xxhash64(C.USER_ID), F.lit(n_buckets)).alias(BUCKET)
    ev = events
    if users is not None:
        ev = ev.join(
            F.broadcast(spark.createDataFrame(pd.DataFrame({C.USER_ID: sorted(map(str, users))}))),
            C.USER_ID,
            "left_semi",
        )
    ev = ev.select("*", bucket)
    factors = serve.user_factors
    if factors is None:
        factors = spark.createDataFrame([], f"{C.USER_ID} string, factors array<float>")  # no ALS source
    # a fresh name: the factors come from the same events (a self-join Spark would call ambiguous)
    factors = factors.select(
        F.col(C.USER_ID).alias(FACTOR_USER), "factors", F.pmod(F.xxhash64(C.USER_ID), F.lit(n_buckets)).alias(BUCKET)
    )
    served = (
        ev.groupBy(BUCKET)
        .cogroup(factors.groupBy(BUCKET))
        .applyInPandas(_serve_bucket(payload), SERVED_SCHEMA)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    totals = served.where("covered").agg(F.count(F.lit(1)).alias("users"), F.sum("candidates").alias("pairs")).first()
    users_n, pairs = int(totals["users"]), int(totals["pairs"] or 0)
    report["serving"] = {
        "users": users_n,
        "pairs": pairs,
        "candidates_per_user": round(pairs / max(users_n, 1), 1),
        "buckets": n_buckets,
    }
    timings["serve_partitions"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    report["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    return SparkRanking(served=served, report=report)
