"""`python -m training export-events`: drain the live event stream into an events file (crash-safe)."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.arguments import positive_int, redis_url
from training.publish.stream_export import export_stream


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-events", help="drain the live event stream into an events file")
    redis_url(p)
    p.add_argument("--out", type=Path, required=True, help="CSV file to append to (created with a header)")
    p.add_argument("--batch", type=positive_int, default=1000)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = export_stream(args.redis, args.out, args.batch)
    print(
        f"exported {result['written']} events to {args.out}"
        + (f" ({result['already_in_file']} already there from an interrupted run)" if result["already_in_file"] else "")
        + (f"; dropped {result['suppressed']} events of erased customers" if result["suppressed"] else "")
    )
    return 0
