"""The item-level part of a ranking context, fitted over every customer with Spark SQL and MLlib.

For a context (the events before `as_of`), the same definitions as training/candidates/ (tested against
`training.candidates.item_state.item_state_of` and the local sources):

- item statistics (`ItemState`): buyers and repeat buyers, decayed recent buyers, trend, buyers in 7/30
  days, first-seen age, median repurchase gap, median price paid: SQL aggregates;
- co-purchase / co-view: cosine of size-discounted basket co-occurrence, a self-join of baskets (orders,
  or 1-hour sessions from a window over each customer's events), the 100 strongest per item;
- item-kNN: implicit's BM25 weighting (idf per customer, length norm per item) as aggregates, item x item
  dot products by a self-join on customers, the 100 best per item (itself included, then dropped);
- EASE: the Gram matrix of log weights by the same self-join (only for catalogs EASE fits), inverted on
  the driver;
- ALS: MLlib ALS with implicit preferences on the log weights. MLlib's solver is not implicit's (its
  regularization scales with each row's count), so this source differs from the local engine's: the
  report's overlap says by how much.

Item-level results come back to the driver (items x 100 neighbours at most, a few MB); per-customer
results (ALS user factors) stay a DataFrame joined to the user partitions.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.candidates.base import DAY_S
from training.candidates.cf import EASE_MAX_ITEMS, spd_inverse
from training.candidates.copurchase import SESSION_GAP_S
from training.candidates.item_state import ItemModels, ItemState
from training.data import columns as C
from training.data.idmap import IdMap

NEIGHBOURS = 100  # CoPurchaseSource / ItemKNNSource defaults
BM25_K1, BM25_B = 1.2, 0.75
EASE_L2 = 200.0
ALS_PARAMS = dict(rank=64, regParam=0.05, alpha=2.0, maxIter=15)
US_PER_DAY = DAY_S * 1e6


@dataclass
class FittedContext:
    """What the user partitions of one context need from the driver (broadcast) and from Spark (user factors)."""

    as_of: pd.Timestamp
    items: IdMap
    state: ItemState
    models: ItemModels
    user_factors: object | None  # DataFrame user_id, factors (array<float>), or None without ALS
    n_active_items: int
    has_views: bool
    timings: dict[str, float]


def _weight_expr(weights: dict[str, float]):
    from pyspark.sql import functions as F

    expr = F.lit(0.0)
    for name, w in weights.items():
        expr = F.when(F.col(C.EVENT) == name, F.lit(float(w))).otherwise(expr)
    return expr


def context_events(events, as_of: pd.Timestamp, weights: dict[str, float]):
    """Events strictly before as_of with a positive weight, with w and age_days (as build_context)."""
    from pyspark.sql import functions as F

    as_of_us = int(as_of.value // 1000)
    ev = events.where(F.unix_micros(C.TIMESTAMP) < F.lit(as_of_us)).withColumn("w", _weight_expr(weights))
    ev = ev.where(F.col("w") > 0)
    return ev.withColumn("age_days", (F.lit(as_of_us) - F.unix_micros(C.TIMESTAMP)) / F.lit(US_PER_DAY))


def item_map(spark_ev, items: pd.DataFrame) -> IdMap:
    """Catalog items first, then items known only from events (sorted), as build_context."""
    from pyspark.sql import functions as F

    seen = [r[0] for r in spark_ev.select(C.ITEM_ID).distinct().orderBy(F.col(C.ITEM_ID)).collect()]
    return IdMap(np.concatenate([items[C.ITEM_ID].to_numpy(dtype=object), np.array(sorted(seen), dtype=object)]))


def _indexed(spark, ev, items: IdMap):
    from pyspark.sql import functions as F

    frame = pd.DataFrame({C.ITEM_ID: items.ids.astype(str), "i": np.arange(len(items), dtype=np.int64)})
    return ev.join(F.broadcast(spark.createDataFrame(frame)), C.ITEM_ID)


def _dense(pdf: pd.DataFrame, column: str, n: int, fill: float = 0.0) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    known = pdf[pdf[column].notna()] if len(pdf) else pdf
    if len(known):
        out[known["i"].to_numpy(dtype=np.int64)] = known[column].to_numpy(dtype=np.float64)
    return out


def item_state(ev, n_items: int, catalog_price: np.ndarray, has_order_column: bool) -> ItemState:
    """training.candidates.item_state.item_state_of, as Spark aggregates over the indexed context events."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    p = ev.where(F.col(C.EVENT) == C.PURCHASE)
    any_purchase = p.limit(1).count() > 0
    base = p if any_purchase else ev
    day = F.floor(F.unix_micros(C.TIMESTAMP) / F.lit(US_PER_DAY))
    per_ui = (
        p.groupBy("u", "i")
        .agg(F.countDistinct(day).alias("days"), F.min("age_days").alias("last"))
        .groupBy("i")
        .agg(
            F.count(F.lit(1)).alias("buyers"),
            F.sum(F.when(F.col("days") >= 2, 1).otherwise(0)).alias("repeat"),
            F.sum(F.when(F.col("last") <= 30, 1).otherwise(0)).alias("b30"),
            F.sum(F.when(F.col("last") <= 7, 1).otherwise(0)).alias("b7"),
        )
    )
    recent = (
        base.groupBy("u", "i")
        .agg(F.min("age_days").alias("last"))
        .groupBy("i")
        .agg(F.sum(F.pow(F.lit(0.5), F.col("last") / F.lit(14.0))).alias("recent"))
    )
    counts = base.groupBy("i").agg(
        F.sum(F.when(F.col("age_days") <= 7, 1).otherwise(0)).alias("now"),
        F.sum(F.when((F.col("age_days") > 7) & (F.col("age_days") <= 35), 1).otherwise(0)).alias("before"),
    )
    first = ev.groupBy("i").agg(F.max("age_days").alias("first"))
    pday = p.select("u", "i", F.floor("age_days").alias("d")).distinct()
    w = Window.partitionBy("u", "i").orderBy("d")
    gaps = (
        pday.withColumn("gap", F.abs(F.col("d") - F.lag("d").over(w)))
        .where(F.col("gap").isNotNull())
        .groupBy("i")
        .agg(F.expr("percentile(gap, 0.5)").alias("gap"))
    )
    paid = (
        ev.where(F.col(C.PRICE).isNotNull() & ~F.isnan(C.PRICE) & (F.col(C.PRICE) > 0))
        .groupBy("i")
        .agg(F.expr(f"percentile({C.PRICE}, 0.5)").alias("paid"))
    )
    # one job for the six aggregates (each action costs a plan and a job: most of the time on small data)
    table = functools.reduce(lambda a, b: a.join(b, "i", "full_outer"), [per_ui, recent, counts, first, gaps, paid])
    pdf = table.toPandas()
    per_ui = recent = counts = first = gaps = paid = pdf
    recent_now = _dense(counts, "now", n_items) / 7.0
    before = _dense(counts, "before", n_items) / 28.0
    lift = (recent_now + 1.0 / 7.0) / (before + 1.0 / 7.0)
    trend = np.where(recent_now > 0, np.log1p(recent_now * 7.0) * lift, 0.0).astype(np.float32)
    fill = _dense(paid, "paid", n_items, np.nan)
    price = np.where(np.isfinite(catalog_price), catalog_price, fill)
    return ItemState(
        buyers=_dense(per_ui, "buyers", n_items),
        repeat_buyers=_dense(per_ui, "repeat", n_items),
        recent_buyers=_dense(recent, "recent", n_items).astype(np.float32),
        trend=trend,
        buyers_30d=_dense(per_ui, "b30", n_items),
        buyers_7d=_dense(per_ui, "b7", n_items),
        first_seen_age=_dense(first, "first", n_items, np.nan),
        repurchase_gap=_dense(gaps, "gap", n_items, np.nan),
        price=price,
        has_orders=has_order_column and ev.limit(1).count() > 0,
    )


def _top_k(pairs, k: int, n_items: int, drop_self: bool) -> sp.csr_matrix:
    """(i, j, sim) rows -> items x items csr with the k largest per row (ties: lower j)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("i").orderBy(F.col("sim").desc(), F.col("j"))
    top = pairs.withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= k)
    if drop_self:
        top = top.where(F.col("i") != F.col("j"))
    pdf = top.select("i", "j", "sim").toPandas()
    m = sp.csr_matrix(
        (pdf["sim"].to_numpy(dtype=np.float32), (pdf["i"].to_numpy(), pdf["j"].to_numpy())),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def cooccurrence(ev, n_items: int, use_orders: bool) -> sp.csr_matrix:
    """training.candidates.copurchase.cooccurrence: baskets by order id (where present) or by session."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ts = F.unix_micros(C.TIMESTAMP) / F.lit(1e6)
    w = Window.partitionBy("u").orderBy(C.TIMESTAMP, "_seq")
    ses = ev.withColumn("_t", ts).withColumn("_prev", F.lag("_t").over(w))
    ses = ses.withColumn("_new", F.when(F.col("_prev").isNull() | (F.col("_t") - F.col("_prev") > SESSION_GAP_S), 1))
    ses = ses.withColumn("_s", F.sum(F.coalesce("_new", F.lit(0))).over(w.rowsBetween(Window.unboundedPreceding, 0)))
    basket = F.concat_ws("\x1f", F.lit("s"), F.col("u").cast("string"), F.col("_s").cast("string"))
    if use_orders and C.ORDER_ID in ev.columns:
        has = F.col(C.ORDER_ID).isNotNull() & (F.col(C.ORDER_ID) != "")
        basket = F.when(has, F.concat_ws("\x1f", F.lit("o"), F.col("u").cast("string"), F.col(C.ORDER_ID))).otherwise(
            basket
        )
    pairs = ses.select(basket.alias("b"), "i").distinct()
    size = pairs.groupBy("b").agg(F.count(F.lit(1)).alias("n")).where(F.col("n") >= 2)
    weighted = pairs.join(size, "b").withColumn("bw", F.lit(1.0) / F.log2(F.lit(1.0) + F.col("n")))
    weighted = weighted.select("b", "i", "bw").persist()
    diag = weighted.groupBy("i").agg(F.sum("bw").alias("d"))
    left = weighted.alias("a")
    right = weighted.select(F.col("b"), F.col("i").alias("j"))
    co = left.join(right, "b").where(F.col("i") != F.col("j")).groupBy("i", "j").agg(F.sum("bw").alias("co"))
    di = diag.select(F.col("i"), F.col("d").alias("di"))
    dj = diag.select(F.col("i").alias("j"), F.col("d").alias("dj"))
    cos = co.join(F.broadcast(di), "i").join(F.broadcast(dj), "j")
    cos = cos.select("i", "j", (F.col("co") / F.sqrt(F.col("di") * F.col("dj"))).alias("sim"))
    out = _top_k(cos, NEIGHBOURS, n_items, drop_self=False)
    weighted.unpersist()
    return out


def _log_cells(ev):
    """(u, i, x): summed event weights per customer and item, and their log1p (what CF learns from)."""
    from pyspark.sql import functions as F

    return ev.groupBy("u", "i").agg(F.sum("w").alias("x")).withColumn("lx", F.log1p("x"))


def bm25_knn(cells, n_items: int) -> sp.csr_matrix:
    """training.candidates.cf.ItemKNNSource: implicit's BM25Recommender(K=100) similarity, diagonal dropped."""
    from pyspark.sql import functions as F

    total = cells.agg(F.sum("x")).first()[0] or 0.0
    average = total / n_items if n_items else 1.0
    idf = cells.groupBy("u").agg((F.log(F.lit(float(n_items))) - F.log1p(F.count(F.lit(1)))).alias("idf"))
    length = cells.groupBy("i").agg(((1.0 - BM25_B) + BM25_B * F.sum("x") / F.lit(float(average or 1.0))).alias("norm"))
    weighted = (
        cells.join(idf, "u")
        .join(F.broadcast(length), "i")
        .select(
            "u",
            "i",
            (F.col("x") * (BM25_K1 + 1.0) / (BM25_K1 * F.col("norm") + F.col("x")) * F.col("idf")).alias("v"),
        )
        .persist()
    )
    a = weighted.alias("a")
    b = weighted.select("u", F.col("i").alias("j"), F.col("v").alias("vj"))
    dots = a.join(b, "u").groupBy("i", "j").agg(F.sum(F.col("v") * F.col("vj")).alias("sim"))
    out = _top_k(dots, NEIGHBOURS, n_items, drop_self=False)
    out.setdiag(0)
    out.eliminate_zeros()
    weighted.unpersist()
    return out


def ease(cells, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """training.candidates.cf.EASESource: the Gram matrix of log weights over active items, inverted here."""
    from pyspark.sql import functions as F

    active = np.sort(np.array([r[0] for r in cells.select("i").distinct().collect()], dtype=np.int64))
    a = cells.select("u", "i", "lx")
    b = cells.select("u", F.col("i").alias("j"), F.col("lx").alias("lj"))
    gram_rows = a.join(b, "u").groupBy("i", "j").agg(F.sum(F.col("lx") * F.col("lj")).alias("g")).toPandas()
    pos = np.full(n_items, -1, dtype=np.int64)
    pos[active] = np.arange(len(active))
    gram = np.zeros((len(active), len(active)), dtype=np.float32)
    gram[pos[gram_rows["i"].to_numpy()], pos[gram_rows["j"].to_numpy()]] = gram_rows["g"].to_numpy(dtype=np.float32)
    gram[np.diag_indices_from(gram)] += EASE_L2
    p = spd_inverse(gram)
    bm = -p / np.diag(p)
    bm[np.diag_indices_from(bm)] = 0.0
    return active, bm.astype(np.float32)


def als(spark, cells, n_items: int, seed: int):
    """MLlib ALS (implicit preferences) on the log weights: item factors here, user factors as a DataFrame."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    model = ALS(
        userCol="u",
        itemCol="i",
        ratingCol="lx",
        implicitPrefs=True,
        nonnegative=False,
        coldStartStrategy="drop",
        seed=seed,
        # one block per core: MLlib's default of 10 is 10 tasks per stage, mostly overhead on small data
        numUserBlocks=max(2, spark.sparkContext.defaultParallelism),
        numItemBlocks=max(2, spark.sparkContext.defaultParallelism),
        **ALS_PARAMS,
    ).fit(cells.select(F.col("u").cast("int"), F.col("i").cast("int"), "lx"))
    vf = model.itemFactors.toPandas()
    items = np.zeros((n_items, ALS_PARAMS["rank"]), dtype=np.float32)
    if len(vf):
        items[vf["id"].to_numpy()] = np.stack(vf["features"].to_numpy()).astype(np.float32)
    users = model.userFactors.select(F.col("id").alias("u"), F.col("features").alias("factors"))
    if spark.sparkContext.getCheckpointDir() is not None:
        # the factors' lineage is every iteration's (1,000+ RDDs): later plans that start from it are
        # serialised with it, deep enough to overflow the driver's stack (training/spark/session.py)
        users = users.checkpoint(eager=True)
    return items, users


def fit_context(
    spark,
    events,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    weights: dict[str, float],
    names: list[str] | None,
    seed: int,
    users=None,
) -> FittedContext:
    """Every item-level input of the ranking context at `as_of`; `names` the sources to fit (None: decide)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    timings: dict[str, float] = {}
    t = time.perf_counter()
    ev = context_events(events, as_of, weights)
    imap = item_map(ev, items)
    n_items = len(imap)
    ev = _indexed(spark, ev, imap)
    if users is None:
        users = user_index(ev)
    ev = ev.join(users, C.USER_ID).persist(StorageLevel.MEMORY_AND_DISK)
    catalog = items.drop_duplicates(C.ITEM_ID, keep="last").set_index(C.ITEM_ID).reindex(pd.Index(imap.ids))
    catalog_price = catalog[C.PRICE].astype(float).to_numpy() if C.PRICE in catalog else np.full(n_items, np.nan)
    state = item_state(ev, n_items, catalog_price, C.ORDER_ID in events.columns)
    timings["item_stats"] = time.perf_counter() - t
    has_views = ev.where(F.col(C.EVENT) != C.PURCHASE).limit(1).count() > 0
    cells = _log_cells(ev).persist(StorageLevel.MEMORY_AND_DISK)
    n_active = cells.select("i").distinct().count()
    models = ItemModels()
    if names is None:
        names = ["history"] + (["ease"] if n_active <= EASE_MAX_ITEMS else []) + ["itemknn", "als", "copurchase"]
        names += ["coview"] if has_views else []
    user_factors = None
    steps = {
        "ease": lambda: setattr(models, "ease_active", None) or _set_ease(models, ease(cells, n_items)),
        "itemknn": lambda: setattr(models, "itemknn", bm25_knn(cells, n_items)),
        "copurchase": lambda: setattr(
            models, "copurchase", cooccurrence(ev.where(F.col(C.EVENT) == C.PURCHASE), n_items, state.has_orders)
        ),
        "coview": lambda: setattr(
            models, "coview", cooccurrence(ev.where(F.col(C.EVENT).isin(C.VIEW, C.CART, C.CLICK)), n_items, False)
        ),
    }
    for name in names:
        t = time.perf_counter()
        if name == "als":
            models.als_items, factors = als(spark, cells, n_items, seed)
            user_factors = factors.join(users, "u").select(C.USER_ID, "factors")
        elif name in steps:
            steps[name]()
        else:
            continue
        timings[f"fit_{name}"] = time.perf_counter() - t
    cells.unpersist()
    ev.unpersist()
    return FittedContext(
        as_of=as_of,
        items=imap,
        state=state,
        models=models,
        user_factors=user_factors,
        n_active_items=int(n_active),
        has_views=has_views,
        timings=timings,
    )


def _set_ease(models: ItemModels, fitted: tuple[np.ndarray, np.ndarray]) -> None:
    models.ease_active, models.ease_b = fitted


def user_index(ev):
    """user_id -> u: 0.. in sorted id order (the local context's order), as a DataFrame."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.sql import functions as F

    distinct = ev.select(C.USER_ID).distinct()
    model = StringIndexer(inputCol=C.USER_ID, outputCol="u", stringOrderType="alphabetAsc").fit(distinct)
    return model.transform(distinct).select(C.USER_ID, F.col("u").cast("long").alias("u"))
