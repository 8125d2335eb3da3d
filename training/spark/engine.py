"""The Spark engine's stages for training/pipeline.py (`Engine`): loading, the ranking stage and its shop
evaluation on Spark, and the per-user Redis writes from the executors.

The driver keeps what the local job computes from the whole event table (the hybrid's tuning, evaluation
and final fit, customers, merchandising, offers): it gets the validated events once, as a pandas frame, and
runs the local stages on it. Everything that scales with the customers' events x candidates runs on the
executors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.config import RunConfig
from training.data import columns as C
from training.data import privacy
from training.data.loading import LoadReport, check_reference_date, load_items, load_users
from training.failures import BadInputError
from training.pipeline import Engine
from training.ranking.stage import RankResult, StageConfig
from training.spark import loading as spark_loading
from training.spark import ranking as spark_ranking
from training.spark.session import jvm_heap_bytes, jvm_rss_bytes


@dataclass
class SparkEngine:
    """One run's Spark state: the session, the validated events (persisted), timings of the Spark stages."""

    spark: object
    events: object | None = None
    served: object | None = None
    timings: dict[str, float] = field(default_factory=dict)
    stage_reports: dict[str, dict] = field(default_factory=dict)
    policy: str = "auto"  # --exclude-seen, applied to the rows the executors publish

    def engine(self) -> Engine:
        return Engine(load_inputs=self.load_inputs, rank=self.rank, evaluate_shop=self.evaluate_shop)

    # -- loading --------------------------------------------------------------------------------------------
    def load_inputs(self, config: RunConfig):
        from pyspark.sql import functions as F

        self.policy = config.exclude_seen
        t = time.perf_counter()
        events, ev_report = spark_loading.load_events(
            self.spark, [str(p) for p in config.events], tuple(config.event_weights), config.input_rules
        )
        self.timings["spark_load_events"] = time.perf_counter() - t
        items, it_report = load_items(config.items, config.input_rules)
        reports: dict[str, LoadReport] = {"events": ev_report, "items": it_report}
        users = None
        if config.users:
            users, reports["users"] = load_users(config.users, config.input_rules)
        t = time.perf_counter()
        frame = spark_loading.to_pandas(events)
        self.timings["spark_events_to_driver"] = time.perf_counter() - t
        kept, reports["privacy"] = privacy.apply(frame, config)
        if len(kept) < len(frame):  # erased customers and profiling opt-outs leave the Spark side too
            dropped = sorted(set(frame[C.USER_ID].unique()) - set(kept[C.USER_ID].unique()))
            gone = self.spark.createDataFrame(pd.DataFrame({C.USER_ID: dropped}))
            events = events.join(F.broadcast(gone), C.USER_ID, "left_anti")
        if kept.empty:
            raise BadInputError(f"no usable events in {', '.join(map(str, config.events))}: {dict(ev_report.skipped)}")
        check_reference_date(config.as_of, kept)
        self.events = events
        return kept, items, users, reports

    # -- the ranking stage ----------------------------------------------------------------------------------
    def evaluate_shop(
        self,
        train: pd.DataFrame,
        test: pd.DataFrame,
        items: pd.DataFrame,
        config: RunConfig,
        setting: dict | None = None,
    ) -> dict:
        """training.evaluation.protocol.evaluate_shop with the stage fitted on Spark's copy of the same split."""
        from training.evaluation import shop_protocol
        from training.evaluation.protocol import split_description

        t = time.perf_counter()
        train_df = self._train_part(config)
        if train_df.count() != len(train):
            raise AssertionError(f"the Spark split has {train_df.count()} training events, the local one {len(train)}")
        full = shop_protocol.from_parts(train, test)
        sample = full.sample(config.eval_users, config.seed)
        truth = {u: (sample.truth_all[u], sample.truth_new.get(u, set())) for u in sample.users}
        ranked = spark_ranking.rank(
            self.spark,
            train_df,
            items,
            top_n=config.top_n,
            seed=config.seed,
            users=sample.users,
            event_weights=config.event_weights,
            truth=truth,
            config=StageConfig(grid=(setting,)) if setting else None,
        )
        rows = ranked.served.where("covered").toPandas()
        ranked.served.unpersist()
        lists = {
            "ranking: main list": dict(zip(rows[C.USER_ID], rows["items"].map(list))),
            "ranking: discover (never bought)": dict(zip(rows[C.USER_ID], rows["new_items"].map(list))),
            "ranking: order again": dict(zip(rows[C.USER_ID], rows["again"].map(list))),
        }
        out_rows = {name: shop_protocol.evaluate_lists(v, sample) for name, v in lists.items()}
        for name in ranked.report.get("sources", []):
            per_user = {u: list(m.get(name, [])) for u, m in zip(rows[C.USER_ID], rows["source_lists"]) if m}
            out_rows[f"source: {name}"] = shop_protocol.evaluate_lists(per_user, sample)
        out_rows |= shop_protocol.peers(sample)
        self.timings["spark_evaluation_ranking"] = time.perf_counter() - t
        self.stage_reports["evaluation"] = ranked.report
        return {
            "split": split_description(config),
            "customers": len(full.truth_all),
            "customers_evaluated": len(sample.truth_all),
            "repeat_share": round(full.repeat_share(), 4),
            "lists": out_rows,
            "candidate_recall": _recall(rows, ranked.report.get("sources", [])),
            "stage": {
                k: ranked.report.get(k) for k in ("mode", "layout", "why", "validation", "ranker") if k in ranked.report
            },
        }

    def _train_part(self, config: RunConfig):
        from training.evaluation.shop_protocol import global_cut

        if config.test_from is not None or config.test_days is not None:
            from pyspark.sql import functions as F

            if config.test_from is not None:
                cut = global_cut(pd.DataFrame(), config.test_from, None)
            else:
                last = self.events.agg(F.max(C.TIMESTAMP)).first()[0]
                last = pd.Timestamp(last).tz_localize("UTC") if pd.Timestamp(last).tzinfo is None else last
                cut = pd.Timestamp(last) - pd.Timedelta(days=float(config.test_days))
            return spark_ranking._between(self.events, None, cut)
        return spark_ranking.time_holdout(self.events, config.holdout_fraction)[0]

    def rank(
        self,
        events: pd.DataFrame,
        items: pd.DataFrame,
        *,
        top_n: int = 100,
        seed: int = 42,
        event_weights: dict[str, float] | None = None,
        progress: bool = False,  # Spark's own progress is its UI's; the local stage draws a bar
    ) -> RankResult:
        """training.ranking.stage.rank on Spark's copy of `events`. The served rows stay on the executors
        (they publish them, the `--exclude-seen` policy applied there as training/ranking/serving.py applies
        it here) and come to the driver once, for the report, the quality gate, exports and offers."""
        t = time.perf_counter()
        ranked = spark_ranking.rank(
            self.spark, self.events, items, top_n=top_n, seed=seed, event_weights=event_weights, policy=self.policy
        )
        self.served = ranked.served
        rows = (
            ranked.served.where("covered")
            .select(C.USER_ID, "items", "scores", "reasons", "again", "again_scores", "new_items", "new_scores")
            .toPandas()
            .sort_values(C.USER_ID, kind="stable")
        )
        self.timings["spark_ranking"] = time.perf_counter() - t
        self.stage_reports["serving"] = ranked.report
        return _rank_result(rows, top_n, ranked.report)

    def report_section(self) -> dict:
        """The report's `engine` section: where the run ran, Spark stage timings, JVM memory."""
        sc = self.spark.sparkContext
        out = {
            "name": "spark",
            "master": sc.master,
            "spark_version": self.spark.version,
            "default_parallelism": sc.defaultParallelism,
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "ranking_stage_timings_seconds": {k: r.get("timings_seconds", {}) for k, r in self.stage_reports.items()},
        }
        rss = jvm_rss_bytes(self.spark)
        if rss is not None:
            out["jvm_peak_rss_bytes"] = rss
        heap = jvm_heap_bytes(self.spark)
        if heap is not None:
            out["jvm_heap_used_after_gc_bytes"], out["jvm_heap_max_bytes"] = heap
        return out


def _recall(rows: pd.DataFrame, names: list[str]) -> dict[str, dict[str, float]]:
    """Candidate recall (shop_protocol.candidate_recall) from the per-customer hit counts."""
    total: dict[str, int] = {}
    for hits in rows["hits"]:
        for k, v in (hits or {}).items():
            total[k] = total.get(k, 0) + int(v)
    out = {}
    for kind in ("all", "new"):
        n = total.get(f"{kind}:truth", 0)
        if not n:
            out[kind] = {}
            continue
        out[kind] = {name: total.get(f"{kind}:{name}", 0) / n for name in names} | {
            "all": total.get(f"{kind}:all", 0) / n
        }
    return out


def _padded(lists: list, n: int, fill, dtype) -> np.ndarray:
    out = np.full((len(lists), n), fill, dtype=dtype)
    for row, values in enumerate(lists):
        values = list(values if values is not None else [])[:n]
        if values:
            out[row, : len(values)] = values
    return out


def _rank_result(rows: pd.DataFrame, n: int, report: dict) -> RankResult:
    """The collected served rows as the local stage's RankResult (from padded arrays of external ids)."""

    def ids(col: str) -> np.ndarray:
        return _padded(rows[col].tolist(), n, "", object)

    def scores(col: str) -> np.ndarray:
        return _padded(rows[col].tolist(), n, np.nan, np.float32)

    return RankResult.of_ids(
        rows[C.USER_ID].astype(str).to_numpy(dtype=object),
        ids("items"),
        ids("again"),
        ids("new_items"),
        scores=scores("scores"),
        reasons=ids("reasons"),
        buy_again_scores=scores("again_scores"),
        new_scores=scores("new_scores"),
        report=report,
    )
