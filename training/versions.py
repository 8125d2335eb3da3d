"""`python -m training versions list|activate V|prune`: inspect and roll back published versions."""

from __future__ import annotations

import argparse
import json
import os

from training.publish import DEFAULT_KEEP, activate, cleanup_stale, connect, list_versions, prune


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("versions", help="list, activate or prune published versions")
    p.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    vsub = p.add_subparsers(dest="action", required=True)
    vsub.add_parser("list", help="every version with its state")
    a = vsub.add_parser("activate", help="make a complete version active (rollback)")
    a.add_argument("version")
    pr = vsub.add_parser("prune", help="delete stale partial versions and all but the newest --keep")
    pr.add_argument("--keep", type=int, default=DEFAULT_KEEP)
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
