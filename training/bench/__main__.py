"""`python -m training.bench quality --data DIR`: every model side by side on a time holdout.

DIR holds events.csv and items.csv in the contract (e.g. from `python -m training.datasets
movielens-100k`). The protocol: per user the last 20% of events by time are held out, items seen in
training are excluded from the ranking (`--exclude-seen interacted`), full ranking over all items.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from training.errors import TrainingError


def quality(data: Path, exclude_seen: str, seed: int, out: Path | None) -> int:
    from training.loading import load_events, load_items
    from training.pipeline import RunConfig, tune_and_evaluate
    from training.report import METRIC_COLUMNS

    events_file = next((data / n for n in ("events.csv", "events.parquet") if (data / n).exists()), data / "events.csv")
    items_file = next((data / n for n in ("items.csv", "items.parquet") if (data / n).exists()), data / "items.csv")
    config = RunConfig(
        events=[events_file],
        items=items_file,
        exclude_seen=exclude_seen,
        seed=seed,
        eval_users=None,
        progress=sys.stderr.isatty(),
    )
    events, _ = load_events(config.events)
    items, _ = load_items(config.items)
    report: dict = {}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    tune_and_evaluate(events, items, config, report, timings)
    ev = report["evaluation"]
    lines = [
        f"Data: {data} ({len(events)} events). {ev['split']}; {ev['users_evaluated']} users evaluated; "
        f"exclude-seen {exclude_seen}; seed {seed}; machine: {platform.machine()}, {platform.python_version()}.",
        "",
        "| model | " + " | ".join(METRIC_COLUMNS) + " | fit s |",
        "|---" * (len(METRIC_COLUMNS) + 2) + "|",
    ]
    for name, m in ev["models"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in METRIC_COLUMNS) + f" | {m['fit_seconds']:.2f} |"
        )
    lines += [
        "",
        f"Chosen: {json.dumps(report['tuning']['chosen'])}",
        f"Blend weights: {report['tuning']['blend_weights']}, history shrink {report['tuning']['history_shrink']}",
        f"Tuning + evaluation wall time: {time.perf_counter() - start:.1f}s",
    ]
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(json.dumps(report, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    q = sub.add_parser("quality", help="offline quality of every model on a time holdout")
    q.add_argument("--data", type=Path, required=True, help="folder with events.csv and items.csv")
    q.add_argument("--exclude-seen", default="interacted", choices=["purchased", "interacted", "none"])
    q.add_argument("--seed", type=int, default=42)
    q.add_argument("--json", type=Path, help="also write the full report here")
    ld = sub.add_parser("load", help="wrk against gunicorn: recsvc vs a bare Flask app")
    ld.add_argument("--rounds", type=int, default=3)
    ld.add_argument("--seconds", type=int, default=10)
    ld.add_argument("--connections", type=int, default=32)
    ld.add_argument("--warmup", type=int, default=10, help="seconds of load before each measured run")
    pb = sub.add_parser("publish", help="bulk publish of N users x 100 items to a fresh Redis")
    pb.add_argument("--users", type=int, default=1_000_000)
    pb.add_argument("--items-per-user", type=int, default=100)
    sub.add_parser("live", help="event ingestion throughput and live re-ranking latency")
    sub.add_parser("experiment", help="A/B and A/A simulations through the running service")
    args = parser.parse_args(argv)
    if args.bench == "experiment":
        from training.bench.experiment import main as experiment_main

        return experiment_main()
    if args.bench == "live":
        from training.bench.live import main as live_main

        return live_main()
    if args.bench == "load":
        from training.bench.load import main as load_main

        return load_main(args.rounds, args.seconds, args.connections, warmup=args.warmup)
    if args.bench == "publish":
        from training.bench.publish import main as publish_main

        return publish_main(args.users, args.items_per_user)
    try:
        return quality(args.data, args.exclude_seen, args.seed, args.json)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
