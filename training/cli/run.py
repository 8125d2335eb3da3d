"""`python -m training run`: train, evaluate, export, publish and report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from contract import event_rules
from training.cli.arguments import (
    bad_row_limit,
    event_weights,
    fraction,
    k_range,
    non_negative_float,
    non_negative_int,
    plausible_time,
    positive_float,
    positive_int,
    redis_target,
    timestamp,
)
from training.cli.preflight import check_outputs
from training.data import columns as C
from training.data.loading import BadRowLimit, InputRules
from training.failures import BadInputError
from training.publish.quality_gate import GateSettings, QualityGateError
from training.publish.redis_publisher import DEFAULT_LEASE_S, DEFAULT_WAIT_S


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train, evaluate, export and publish")
    p.add_argument(
        "--events",
        type=input_path,
        nargs="+",
        required=True,
        help="one or more event files (CSV or Parquet); with --engine spark any path Spark reads (hdfs://, s3a://)",
    )
    p.add_argument("--items", type=Path, required=True, help="catalog file (CSV or Parquet)")
    p.add_argument("--users", type=Path, help="optional user attributes file")
    p.add_argument("--export", type=Path, help="write recommendations.jsonl and similar_items.jsonl here")
    p.add_argument("--report-dir", type=Path, help="write report.json, report.md and report.html (with figures) here")
    p.add_argument(
        "--redis",
        type=redis_target,
        help="publish to this Redis URL (redis://HOST:PORT/DB, or redis+cluster://HOST:PORT,HOST:PORT); its "
        "suppression list and consent statements apply",
    )
    p.add_argument(
        "--suppress",
        type=Path,
        help="without --redis: the suppression list of erased customers (`training forget --suppression-out`)",
    )
    p.add_argument("--publish-batch", type=positive_int, default=2000, help="Redis commands per pipeline")
    p.add_argument("--keep-versions", type=positive_int, default=3, help="complete versions kept for rollback")
    p.add_argument("--top-n", type=positive_int, default=100, help="items per user list (default 100)")
    p.add_argument("--similar-n", type=positive_int, default=20, help="items per similar-items list (default 20)")
    p.add_argument(
        "--exclude-seen",
        choices=["auto", "purchased", "interacted", "none"],
        default="auto",
        help="auto (default): the ranking stage learns per item what to show again; purchased / interacted: "
        "never show bought / any seen item; none: keep the service's request-time purchase filter",
    )
    p.add_argument("--no-ranking", action="store_true", help="serve the hybrid's lists instead of the ranking stage")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--test-from", type=timestamp, help="evaluate on a global time split: events from DATE on")
    split.add_argument("--test-days", type=positive_float, help="evaluate on a global time split: the last N days")
    p.add_argument(
        "--event-weights",
        type=event_weights,
        default=dict(C.DEFAULT_EVENT_WEIGHTS),
        help="e.g. view=1,cart=3,purchase=5",
    )
    p.add_argument(
        "--recency-half-life-days",
        type=positive_float,
        default=None,
        help="decay older events when learning (default: no decay)",
    )
    p.add_argument(
        "--history-half-life",
        type=non_negative_float,
        default=10.0,
        help="events; weight of a user's older events when scoring (0: no decay)",
    )
    p.add_argument("--eval-users", type=positive_int, default=5000, help="users sampled for validation and test")
    p.add_argument("--no-eval", action="store_true", help="skip the test-holdout evaluation")
    p.add_argument(
        "--eval-in-sequence",
        action="store_true",
        help="evaluate (and fit bought together and the customers) after the serving stage, not beside it in "
        "another process (by default beside it when "
        "there are 2+ CPUs and memory for both: quicker, up to twice the memory)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", type=plausible_time, help="reference date for RFM and CLV (default: the last event)")
    p.add_argument("--experiments", type=Path, help="A/B experiments to serve (JSON or YAML, see docs/experiments.md)")
    p.add_argument("--offers", type=Path, help="offer catalog (JSON or YAML, see docs/offers.md)")
    p.add_argument("--clusters", type=k_range, default=(2, 8), help="k range for k-means, e.g. 2-8")
    p.add_argument(
        "--rules", type=Path, help="business rules published with the version (JSON or YAML, docs/merchandising.md)"
    )
    p.add_argument(
        "--min-support", type=positive_int, default=2, help="bought together: baskets a pair needs (default 2)"
    )
    p.add_argument(
        "--min-lift", type=non_negative_float, default=1.0, help="bought together: lift a pair needs (default 1)"
    )
    p.add_argument(
        "--session-gap-minutes",
        type=non_negative_float,
        default=30.0,
        help="purchases without an order_id: a new basket after this gap (default 30)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    eng = p.add_argument_group("engine (docs/spark.md)")
    eng.add_argument(
        "--engine",
        choices=["local", "spark"],
        default="local",
        help="local (default): this process; spark: loading, the ranking stage and the per-user writes on Spark",
    )
    eng.add_argument(
        "--spark-master", help="with --engine spark: the master URL (default local[2]; spark-submit's own)"
    )
    eng.add_argument(
        "--spark-conf",
        type=spark_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --engine spark: a Spark setting (repeatable), e.g. spark.driver.memory=8g",
    )
    bad = p.add_argument_group("bad input")
    bad.add_argument(
        "--max-bad-rows",
        type=bad_row_limit,
        default=BadRowLimit(fraction=0.01),
        help="stop when a file has more bad rows than this: a share (1%%, the default) or a count (500)",
    )
    bad.add_argument(
        "--earliest-event",
        type=timestamp,
        default=pd.Timestamp(event_rules.EARLIEST_EVENT),
        help="events before this are bad rows (default 1990-01-01)",
    )
    bad.add_argument("--latest-event", type=timestamp, help="events after this are bad rows (default: now + 1 day)")
    pub = p.add_argument_group("publishing")
    pub.add_argument(
        "--publish-wait",
        type=non_negative_float,
        default=DEFAULT_WAIT_S,
        help="seconds to wait while another run publishes to the same Redis (default 300; then exit 4)",
    )
    pub.add_argument(
        "--publish-lease-s",
        type=positive_float,
        default=DEFAULT_LEASE_S,
        help="lifetime of the publish lease, renewed while writing: how soon a crashed publish stops blocking",
    )
    gate = p.add_argument_group("quality gate (before a new version becomes active; see the README)")
    gate.add_argument("--force", action="store_true", help="publish even when the quality gate fails")
    gate.add_argument(
        "--max-ndcg-drop",
        type=fraction,
        default=GateSettings.max_ndcg_drop,
        help="largest allowed fall of hybrid ndcg@10 against the active version, as a share (default 0.2)",
    )
    gate.add_argument(
        "--max-catalog-drop",
        type=fraction,
        default=GateSettings.max_catalog_drop,
        help="largest allowed shrink of the catalog against the active version, as a share (default 0.5)",
    )
    gate.add_argument(
        "--min-full-lists",
        type=fraction,
        default=GateSettings.min_full_lists,
        help="least share of users whose list is full (default 0.5)",
    )
    gate.add_argument(
        "--min-catalog-items",
        type=non_negative_int,
        default=GateSettings.min_catalog_items,
        help="least number of showable items (default 1)",
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from training.pipeline import RunConfig

    config = RunConfig(
        events=args.events,
        items=args.items,
        users=args.users,
        top_n=args.top_n,
        similar_n=args.similar_n,
        exclude_seen=args.exclude_seen,
        event_weights=args.event_weights,
        recency_half_life_days=args.recency_half_life_days,
        history_half_life=args.history_half_life or None,
        eval_users=args.eval_users,
        seed=args.seed,
        as_of=args.as_of,
        offers=args.offers,
        cluster_range=args.clusters,
        rules=args.rules,
        min_support=args.min_support,
        min_lift=args.min_lift,
        session_gap_minutes=args.session_gap_minutes,
        evaluate=not args.no_eval,
        evaluate_beside=False if args.eval_in_sequence else None,
        progress=not args.quiet and sys.stderr.isatty(),
        ranking=not args.no_ranking,
        test_from=args.test_from,
        test_days=args.test_days,
        input_rules=InputRules(earliest=args.earliest_event, latest=args.latest_event, max_bad_rows=args.max_bad_rows),
    )
    config.privacy = privacy_policy(args)
    experiments = None
    if args.experiments:
        from training.publish.experiments_file import load as load_experiments

        experiments = load_experiments(args.experiments)  # rejected whole, before any training
        if not args.redis:
            raise BadInputError("--experiments needs --redis: experiments are served from published versions")
    # Every output is checked before any work, so a run never fails on one after training or publishing.
    check_outputs(args.export, args.report_dir)
    if args.redis:
        from training.publish.redis_publisher import connect, resolve_experiments

        client = connect(args.redis)
        if experiments is not None:
            resolve_experiments(client, experiments)
        client.close()
    started = time.perf_counter()
    spark_engine = None
    if args.engine == "spark":
        from training.spark.engine import SparkEngine
        from training.spark.session import spark_session

        spark_engine = SparkEngine(spark_session(args.spark_master, conf=dict(args.spark_conf)))
    elif args.spark_master or args.spark_conf:
        raise BadInputError("--spark-master and --spark-conf need --engine spark")
    try:
        return _train_and_publish(args, config, experiments, started, spark_engine)
    finally:
        if spark_engine is not None:
            from training.spark.session import stop_session

            stop_session(spark_engine.spark)


def _train_and_publish(args, config, experiments, started: float, spark_engine) -> int:
    from training.pipeline import run
    from training.publish.jsonl_export import write_exports
    from training.run_report import write_report

    result = run(config, spark_engine.engine() if spark_engine is not None else None)
    if spark_engine is not None and spark_engine.served is not None and args.redis:
        from training.spark.publish import executor_writer

        result.user_lists_writer = executor_writer(
            spark_engine.served,
            args.redis,
            args.publish_batch,
            with_reasons=result.rec_reasons is not None,
            top_n=config.top_n,
            catalog=result.catalog,
            partitions=max(2, spark_engine.spark.sparkContext.defaultParallelism * 2),
        )
    outputs: dict[str, object] = {}
    if args.export:
        outputs["export"] = write_exports(result, args.export)
    if args.redis:
        from training.publish.redis_publisher import publish_result

        gate = GateSettings(
            min_catalog_items=args.min_catalog_items,
            max_catalog_drop=args.max_catalog_drop,
            min_full_lists=args.min_full_lists,
            max_ndcg_drop=args.max_ndcg_drop,
        )
        try:
            outputs["published_version"] = publish_result(
                result,
                args.redis,
                keep=args.keep_versions,
                batch=args.publish_batch,
                progress=config.progress,
                experiments=experiments,
                wait_s=args.publish_wait,
                lease_ttl_s=args.publish_lease_s,
                gate=gate,
                force=args.force,
            )
        except QualityGateError:
            if args.report_dir:  # the report says why the version was refused
                write_report(result.report, args.report_dir)
            raise
        result.report.model_version = outputs["published_version"]
    if spark_engine is not None:
        result.report.engine = spark_engine.report_section()
    if args.report_dir:
        outputs["report"] = write_report(result.report, args.report_dir)
    print_summary(result.report.to_dict(), outputs, time.perf_counter() - started)
    return 0


def input_path(text: str) -> Path | str:
    """A local path, or a URL Spark reads (`hdfs://...`, `s3a://...`) kept as it is (a Path would fold '//')."""
    return text if "://" in text and not text.startswith("file://") else Path(text.removeprefix("file://"))


def spark_setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key.strip(), value.strip()


def privacy_policy(args: argparse.Namespace):
    """Erased customers and consent statements: from Redis with --redis (the users file's statements are
    recorded there too), else from --suppress and the users file."""
    from training.data import privacy

    if args.suppress and args.redis:
        raise BadInputError("--suppress is for runs without --redis (with --redis the list is read from Redis)")
    if not args.redis:
        return privacy.build_policy(privacy.from_file(args.suppress) if args.suppress else None, args.users)
    from training.publish.redis_publisher import connect

    client = connect(args.redis)
    policy = privacy.build_policy(privacy.from_redis(client), args.users)
    privacy.record_file_statements(client, policy)
    return policy


def print_summary(report: dict, outputs: dict, seconds: float) -> None:
    ev = report["inputs"]["events"]
    print(
        f"events: {ev['rows_kept']} kept of {ev['rows_read']} read"
        + (f" (skipped: {ev['skipped']})" if ev["skipped"] else "")
    )
    for kind, part in report["inputs"].items():
        for reason, where in part.get("bad_lines", {}).items():
            print(f"bad lines: {kind} {reason} at {', '.join(where)}")
    kept_out = report["inputs"].get("privacy", {})
    if any(kept_out.get("skipped", {}).values()):
        print(
            f"privacy: left out {kept_out['skipped']} events of {kept_out['users_dropped']} customers "
            f"(suppression list: {kept_out['suppression']})"
        )
    print(
        f"users: {report['output']['users']}, items: {report['output']['items']}, "
        f"categories: {report['output']['categories']}"
    )
    if "evaluation" in report:
        print("test holdout (k=10):")
        for name, m in report["evaluation"]["models"].items():
            print(
                f"  {name:<11} ndcg {m['ndcg@10']:.4f}  recall {m['recall@10']:.4f}  "
                f"precision {m['precision@10']:.4f}  map {m['map@10']:.4f}  coverage {m['coverage@10']:.3f}  "
                f"fit {m['fit_seconds']:.2f}s"
            )
    shop = report.get("shop_evaluation")
    if shop:
        print(f"test holdout (k=10, {shop['split']}; {shop['customers_evaluated']} customers), NDCG all / new items:")
        for name, m in shop["lists"].items():
            print(f"  {name:<34} {m['all']['ndcg@10']:.4f} / {m['new']['ndcg@10']:.4f}")
    ranking = report.get("ranking")
    if ranking:
        print(f"ranking: {ranking.get('mode')}" + (f" ({ranking['why']})" if ranking.get("why") else ""))
    customers = report.get("customers", {})
    if customers.get("segments"):
        sizes = ", ".join(f"{s['id']} {s['size']}" for s in customers["segments"] if s["id"].startswith("lifecycle."))
        print(f"lifecycle: {sizes}")
    for c in report.get("offers", {}).get("campaigns", []):
        print(
            f"offer {c['offer_id']}: {c['status']}, eligible {c['eligible_users']}, audience {c['audience_size']}, "
            f"holdout {c['holdout_size']}, expected cost {c['expected_cost']:.2f} of {c['budget']:.2f}"
        )
    for warning in customers.get("warnings", []):
        print(f"warning: {warning}")
    gate = report.get("quality_gate")
    if gate:
        state = "passed" if gate["passed"] else ("FAILED, published with --force" if gate["forced"] else "FAILED")
        print(
            f"quality gate: {state} ({', '.join(c['name'] + ('' if c['passed'] else ' failed') for c in gate['checks'])})"
        )
    for key, value in outputs.items():
        print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    print(f"done in {seconds:.1f}s")
