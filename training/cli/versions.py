"""`python -m training versions list|activate V|prune`: inspect and roll back published versions."""

from __future__ import annotations

import argparse
import json

from contract.versions import cleanup_stale, list_versions, prune
from training.cli.arguments import non_negative_int, redis_url
from training.publish.redis_publisher import DEFAULT_KEEP, activate, connect


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("versions", help="list, activate or prune published versions")
    redis_url(p)
    vsub = p.add_subparsers(dest="action", required=True)
    vsub.add_parser("list", help="every version with its state")
    a = vsub.add_parser("activate", help="make a complete version active (rollback)")
    a.add_argument("version")
    pr = vsub.add_parser("prune", help="delete stale partial versions and all but the newest --keep")
    pr.add_argument("--keep", type=non_negative_int, default=DEFAULT_KEEP, help="complete versions kept (>= 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = connect(args.redis)
    if args.action == "list":
        for v in list_versions(client):
            print(json.dumps(v))
    elif args.action == "activate":
        activate(client, args.version)
        print(f"active version: {args.version}")
    else:
        removed = cleanup_stale(client) + prune(client, args.keep)
        print(f"removed: {removed or 'nothing'}")
    return 0
