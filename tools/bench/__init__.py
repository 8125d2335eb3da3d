"""`python -m tools bench quality|load|live|experiment|publish|failover|privacy|baskets|rules|shop|candidates|
request-cpu`: the project's benchmarks (docs/benchmarks.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="benchmarks: offline quality, serving load, live events, experiments, publish, failover"
    )
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
    ld.add_argument("--cluster", action="store_true", help="recsvc on one Redis vs on a local 3 x 3 Redis Cluster")
    pb = sub.add_parser("publish", help="bulk publish of N users x 100 items to a fresh Redis")
    pb.add_argument("--users", type=int, default=1_000_000)
    pb.add_argument("--items-per-user", type=int, default=100)
    pb.add_argument("--cluster", action="store_true", help="to a local 3-master Redis Cluster (3 replicas)")
    pv = sub.add_parser("privacy", help="erasure time, its cost to a publish, consent on the hot path")
    pv.add_argument("--users", type=int, default=100_000)
    pv.add_argument("--stream", type=int, default=1_000_000, help="events in the stream an erasure reads")
    pv.add_argument("--versions", type=int, default=3)
    sub.add_parser("live", help="event ingestion throughput and live re-ranking latency")
    fo = sub.add_parser("failover", help="a Redis Cluster master killed while clients ask for recommendations")
    fo.add_argument("--runs", type=int, default=3)
    bk = sub.add_parser("baskets", help="frequently bought together on online-retail's invoices")
    bk.add_argument("--src", type=Path, help="online_retail.csv (default: ../shared/datasets/online-retail/)")
    bk.add_argument("--json", type=Path, help="also write the results here")
    rl = sub.add_parser("rules", help="recommendation latency with 5 active business rules vs none")
    rl.add_argument("--seconds", type=int, default=10)
    rl.add_argument("--rounds", type=int, default=3)
    rl.add_argument("--connections", type=int, default=16)
    sub.add_parser("experiment", help="A/B and A/A simulations through the running service")
    rc = sub.add_parser("request-cpu", help="CPU per recommendations request in one process (test client)")
    rc.add_argument("--requests", type=int, default=5000)
    rc.add_argument("--reps", type=int, default=5)
    cd = sub.add_parser("candidates", help="ALS through the ANN index vs exact, sparse vs dense top-k")
    cd.add_argument("--data", type=Path, required=True, help="folder with events and items (Parquet or CSV)")
    cd.add_argument("--users", type=int, default=5000, help="customers sampled")
    cd.add_argument("--seed", type=int, default=1)
    sh = sub.add_parser("shop", help="the shop protocol: all / new items for the job, the ranking stage and peers")
    sh.add_argument("--data", type=Path, required=True, help="folder with events.csv and items.csv")
    sh.add_argument("--test-from", required=True, help="first day of the test, e.g. 2011-11-01")
    sh.add_argument("--job", action="append", default=[], help="also run the job with --exclude-seen POLICY or default")
    sh.add_argument("--seed", type=int, default=42)
    sh.add_argument("--json", type=Path, help="also write the rows here")
    sh.add_argument(
        "--shortlist",
        type=int,
        help="the ranking stage's shortlist for its rows (0: every proposed pair; default: the stage's)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.bench == "request-cpu":
        from tools.bench.request_cpu import main as request_cpu_main

        return request_cpu_main(args.requests, args.reps)
    if args.bench == "candidates":
        from tools.bench.candidates import main as candidates_main

        return candidates_main(args.data, args.users, args.seed)
    if args.bench == "shop":
        from tools.bench.shop import main as shop_main

        return shop_main(args.data, args.test_from, args.job, args.seed, args.json, args.shortlist)
    if args.bench == "experiment":
        from tools.bench.experiment import main as experiment_main

        return experiment_main()
    if args.bench == "failover":
        from tools.bench.failover import main as failover_main

        return failover_main(args.runs)
    if args.bench == "live":
        from tools.bench.live import main as live_main

        return live_main()
    if args.bench == "baskets":
        from tools.bench.baskets import DEFAULT_SRC
        from tools.bench.baskets import main as baskets_main

        return baskets_main(args.src or DEFAULT_SRC, args.json)
    if args.bench == "rules":
        from tools.bench.rules import main as rules_main

        return rules_main(args.rounds, args.seconds, args.connections)
    if args.bench == "load":
        from tools.bench.load import main as load_main

        return load_main(args.rounds, args.seconds, args.connections, warmup=args.warmup, cluster=args.cluster)
    if args.bench == "privacy":
        from tools.bench.privacy import main as privacy_main

        return privacy_main(args.users, args.stream, args.versions)
    if args.bench == "publish":
        from tools.bench.publish import main as publish_main

        return publish_main(args.users, args.items_per_user, args.cluster)
    from tools.bench.quality import quality

    return quality(args.data, args.exclude_seen, args.seed, args.json)
