"""`python -m training ...`: the command-line entry point of the training job."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from training import columns as C
from training.errors import TrainingError


def parse_weights(text: str) -> dict[str, float]:
    """'view=1,cart=3,purchase=5' -> dict; unknown event types or bad numbers are errors."""
    weights = dict(C.DEFAULT_EVENT_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in C.EVENT_TYPES:
            raise argparse.ArgumentTypeError(f"unknown event type '{name}' (use {', '.join(C.EVENT_TYPES)})")
        try:
            weights[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of '{name}' is not a number: '{value}'") from None
        if weights[name] < 0:
            raise argparse.ArgumentTypeError(f"weight of '{name}' must be >= 0")
    return weights


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _timestamp(text: str):
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO-8601 time: '{text}'") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _k_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        k = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 2-8, got '{text}'") from None
    if not 2 <= k[0] <= k[1] <= 50:
        raise argparse.ArgumentTypeError("cluster range must satisfy 2 <= min <= max <= 50")
    return k


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train, evaluate, export and publish")
    p.add_argument("--events", type=Path, nargs="+", required=True, help="one or more event files (CSV or Parquet)")
    p.add_argument("--items", type=Path, required=True, help="catalog file (CSV or Parquet)")
    p.add_argument("--users", type=Path, help="optional user attributes file")
    p.add_argument("--export", type=Path, help="write recommendations.jsonl and similar_items.jsonl here")
    p.add_argument("--report-dir", type=Path, help="write report.json, report.md and report.html (with figures) here")
    p.add_argument("--redis", help="publish to this Redis URL (redis://HOST:PORT/DB)")
    p.add_argument("--publish-batch", type=_positive_int, default=2000, help="Redis commands per pipeline")
    p.add_argument("--keep-versions", type=_positive_int, default=3, help="complete versions kept for rollback")
    p.add_argument("--top-n", type=_positive_int, default=100, help="items per user list (default 100)")
    p.add_argument("--similar-n", type=_positive_int, default=20, help="items per similar-items list (default 20)")
    p.add_argument("--exclude-seen", choices=["purchased", "interacted", "none"], default="purchased")
    p.add_argument(
        "--event-weights",
        type=parse_weights,
        default=dict(C.DEFAULT_EVENT_WEIGHTS),
        help="e.g. view=1,cart=3,purchase=5",
    )
    p.add_argument(
        "--recency-half-life-days",
        type=float,
        default=None,
        help="decay older events when learning (default: no decay)",
    )
    p.add_argument(
        "--history-half-life",
        type=float,
        default=10.0,
        help="events; weight of a user's older events when scoring (0: no decay)",
    )
    p.add_argument("--eval-users", type=_positive_int, default=5000, help="users sampled for validation and test")
    p.add_argument("--no-eval", action="store_true", help="skip the test-holdout evaluation")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", type=_timestamp, help="reference date for RFM and CLV (default: the last event)")
    p.add_argument("--experiments", type=Path, help="A/B experiments to serve (JSON or YAML, see docs/experiments.md)")
    p.add_argument("--offers", type=Path, help="offer catalog (JSON or YAML, see docs/offers.md)")
    p.add_argument("--clusters", type=_k_range, default=(2, 8), help="k range for k-means, e.g. 2-8")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_run(args: argparse.Namespace) -> int:
    from training.export import export
    from training.pipeline import RunConfig, run
    from training.report import write_report

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
        evaluate=not args.no_eval,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    experiments = None
    if args.experiments:
        from training.experiments import load as load_experiments

        experiments = load_experiments(args.experiments)  # rejected whole, before any training
        if not args.redis:
            raise TrainingError("--experiments needs --redis: experiments are served from published versions")
    started = time.perf_counter()
    result = run(config)
    outputs: dict[str, object] = {}
    if args.export:
        outputs["export"] = export(result, args.export)
    if getattr(args, "redis", None):
        from training.publish import publish_result

        outputs["published_version"] = publish_result(
            result,
            args.redis,
            keep=args.keep_versions,
            batch=args.publish_batch,
            progress=config.progress,
            experiments=experiments,
        )
        result.report["model_version"] = outputs["published_version"]
    if args.report_dir:
        outputs["report"] = write_report(result.report, args.report_dir)
    print_summary(result.report, outputs, time.perf_counter() - started)
    return 0


def print_summary(report: dict, outputs: dict, seconds: float) -> None:
    ev = report["inputs"]["events"]
    print(
        f"events: {ev['rows_kept']} kept of {ev['rows_read']} read"
        + (f" (skipped: {ev['skipped']})" if ev["skipped"] else "")
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
    for key, value in outputs.items():
        print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    print(f"done in {seconds:.1f}s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    from training.clv.cli import add_parser as add_clv
    from training.export_events import add_parser as add_export_events

    add_clv(sub)
    add_export_events(sub)
    try:
        from training.versions import add_parser as add_versions
    except ImportError:  # publishing arrives with the serving issue
        pass
    else:
        add_versions(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) if hasattr(args, "func") else cmd_run(args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
