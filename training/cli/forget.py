"""`python -m training forget`: erase customers from Redis everywhere and put them on the suppression list.

The same erasure as DELETE /v1/users/<id> (contract/erasure.py). Prints one receipt per customer with
the keyed hash of the id, never the id (terminal output ends up in logs).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

import redis

from training.cli.arguments import redis_url
from training.failures import BadInputError, InputFileError

MAX_ID_LENGTH = 256


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forget", help="erase customers everywhere in Redis and suppress them in later runs")
    redis_url(p)
    p.add_argument("--user", action="append", default=[], metavar="ID", help="a customer id (repeatable)")
    p.add_argument(
        "--users-file",
        type=Path,
        help="customer ids: a CSV or Parquet file with a user_id column, or a text file with one id per line",
    )
    p.add_argument(
        "--suppression-out",
        type=Path,
        help="then write the whole suppression list here, for training runs without --redis (run --suppress)",
    )
    p.set_defaults(func=run)


def read_ids(path: Path) -> list[str]:
    """Ids from a table with a user_id column, or one per line; blank lines are skipped."""
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        first = path.open(encoding="utf-8").readline().strip().strip('"')
    except (OSError, UnicodeError) as exc:
        raise InputFileError(path, f"unreadable: {exc}") from None
    if path.suffix.lower() in (".parquet", ".pq") or first.split(",")[0].strip().strip('"') == "user_id":
        from training.data.loading import read_table

        frame = read_table(path)
        if "user_id" not in frame.columns:
            raise InputFileError(path, "required column is missing", column="user_id")
        values = frame["user_id"].dropna().astype(str)
        rows = [(k + 2, v) for k, v in enumerate(values)]
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [(k + 1, line) for k, line in enumerate(lines)]
    ids = []
    for row, value in rows:
        value = value.strip()
        if not value:
            continue
        if len(value) > MAX_ID_LENGTH:
            raise InputFileError(path, f"row {row}: an id is at most {MAX_ID_LENGTH} characters", column="user_id")
        ids.append(value)
    return ids


def run(args: argparse.Namespace) -> int:
    from contract import erasure
    from training.data.privacy import write_suppression_file
    from training.publish.redis_publisher import PublishError, connect

    ids = [u.strip() for u in args.user]
    if any(not u or len(u) > MAX_ID_LENGTH for u in ids):
        raise BadInputError(f"--user: an id is 1 to {MAX_ID_LENGTH} characters")
    if args.users_file:
        ids += read_ids(args.users_file)
    if not ids and not args.suppression_out:
        raise BadInputError("nothing to erase: give --user ID or --users-file F")
    client = connect(args.redis)
    try:
        receipts = erasure.erase(client, ids, requested_by=f"cli ({_login()})") if ids else []
        for r in receipts:
            print(json.dumps(r.to_dict(with_id=False)))
        if ids:
            total = sum(sum(r.removed.values()) for r in receipts)
            print(f"erased {len(receipts)} customers ({total} records removed)", file=sys.stderr)
        if args.suppression_out:
            n = write_suppression_file(client, args.suppression_out)
            print(f"suppression list ({n} customers) written to {args.suppression_out}", file=sys.stderr)
    except redis.RedisError as exc:
        raise PublishError(f"erasing in Redis failed part-way (run it again: erasing is idempotent): {exc}") from exc
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
