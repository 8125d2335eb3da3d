"""`python -m training.datasets movielens-100k|synthetic|cdnow ...`: write datasets in the contract."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from training.errors import TrainingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.datasets")
    sub = parser.add_subparsers(dest="dataset", required=True)
    ml = sub.add_parser("movielens-100k", help="convert MovieLens-100k (u.data, u.item, u.genre, u.user)")
    ml.add_argument("--src", type=Path, required=True)
    ml.add_argument("--out", type=Path, required=True)
    syn = sub.add_parser("synthetic", help="generate a synthetic shop")
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--users", type=int, default=2000)
    syn.add_argument("--items", type=int, default=500)
    syn.add_argument("--seed", type=int, default=42)
    syn.add_argument("--events-per-user", type=float, default=30.0)
    syn.add_argument("--format", choices=["csv", "parquet"], default="csv")
    cd = sub.add_parser("cdnow", help="convert the CDNOW purchase log (sample or master)")
    cd.add_argument("--src", type=Path, required=True, help="CDNOW_sample.txt or CDNOW_master.txt")
    cd.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.dataset == "movielens-100k":
            from training.datasets.movielens import convert

            counts = convert(args.src, args.out)
        elif args.dataset == "cdnow":
            from training.datasets.cdnow import convert as convert_cdnow

            counts = convert_cdnow(args.src, args.out)
        else:
            from training.datasets.synthetic import generate, write

            shop = generate(args.users, args.items, args.seed, args.events_per_user)
            write(shop, args.out, args.format)
            counts = {"events": len(shop.events), "items": len(shop.items), "users": len(shop.users)}
    except (TrainingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    print(f"wrote {counts} to {args.out} in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
