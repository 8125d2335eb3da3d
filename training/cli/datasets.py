"""`python -m training datasets movielens-100k|synthetic|cdnow|online-retail ...`: write datasets in the input contract."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from training.cli.arguments import history_end, positive_int
from training.failures import BadInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="generate or convert datasets into the input contract")
    dsub = p.add_subparsers(dest="dataset", required=True)
    ml = dsub.add_parser("movielens-100k", help="convert MovieLens-100k (u.data, u.item, u.genre, u.user)")
    ml.add_argument("--src", type=Path, required=True)
    ml.add_argument("--out", type=Path, required=True)
    syn = dsub.add_parser("synthetic", help="generate a synthetic shop (written in chunks of users: any size)")
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--users", type=positive_int, default=2000)
    syn.add_argument("--items", type=positive_int, default=500)
    syn.add_argument("--seed", type=int, default=42)
    syn.add_argument("--events-per-user", type=float, default=30.0)
    syn.add_argument("--format", choices=["csv", "parquet"], default="csv")
    orr = dsub.add_parser("online-retail", help="convert UCI Online Retail (online_retail.csv), with order ids")
    orr.add_argument("--src", type=Path, required=True, help="online_retail.csv")
    orr.add_argument("--out", type=Path, required=True)
    syn.add_argument(
        "--end",
        type=history_end,
        help="when the history ends: 'now' or a date (default 2026-06-30, for reproducible shops)",
    )
    cd = dsub.add_parser("cdnow", help="convert the CDNOW purchase log (sample or master)")
    cd.add_argument("--src", type=Path, required=True, help="CDNOW_sample.txt or CDNOW_master.txt")
    cd.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        counts, seconds = _write(args)
    except ValueError as exc:  # a converter that cannot read its source
        raise BadInputError(str(exc)) from None
    print(f"wrote {counts} to {args.out} in {seconds:.1f}s")
    return 0


def _write(args: argparse.Namespace) -> tuple[dict, float]:
    start = time.perf_counter()
    if args.dataset == "movielens-100k":
        from training.datasets.movielens import convert

        counts = convert(args.src, args.out)
    elif args.dataset == "online-retail":
        from training.datasets.online_retail import convert as convert_online_retail

        counts = convert_online_retail(args.src, args.out)
    elif args.dataset == "cdnow":
        from training.datasets.cdnow import convert as convert_cdnow

        counts = convert_cdnow(args.src, args.out)
    else:
        from training.datasets.synthetic import write_streaming

        counts = write_streaming(
            args.out, args.users, args.items, args.seed, args.events_per_user, args.format, end=args.end
        )
    return counts, time.perf_counter() - start
