"""`python -m training export-events`: drain the live event stream into an events file in the contract.

Crash-safe: a batch is appended and fsync'ed before its entries are deleted from the stream, and
the file carries each event's stream id. A rerun first cuts a half-written last line, then skips
(and deletes) stream entries the file already holds, so nothing is lost and nothing is written
twice.
"""

from __future__ import annotations

import argparse
import csv
import os
from datetime import UTC, datetime
from pathlib import Path

from recsvc import keys
from training.publish import connect

COLUMNS = ["event_id", "user_id", "item_id", "event", "timestamp", "quantity", "price", "recommendation_id"]


def _id(value: bytes | str) -> tuple[int, int]:
    ms, _, seq = (value.decode() if isinstance(value, bytes) else value).partition("-")
    return int(ms), int(seq or 0)


def _repair(path: Path) -> str | None:
    """Cut a half-written last line; return the stream id of the last complete row (None if none)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb+") as fh:
        data = fh.read()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            fh.seek(cut)
            fh.truncate()
            data = data[:cut]
    lines = data.splitlines()
    if len(lines) <= 1:
        return None
    last = lines[-1].decode()
    return next(csv.reader([last]))[0]


def export(url: str, out: Path, batch: int = 1000) -> dict[str, int]:
    client = connect(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    last = _repair(out)
    last_key = _id(last) if last else (-1, -1)
    new_file = not out.exists() or out.stat().st_size == 0
    written = skipped = 0
    with out.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new_file:
            writer.writerow(COLUMNS)
            fh.flush()
            os.fsync(fh.fileno())
        while True:
            entries = client.xrange(keys.EVENTS_STREAM, min="-", max="+", count=batch)
            if not entries:
                break
            done = [eid for eid, _ in entries if _id(eid) <= last_key]
            fresh = [(eid, fields) for eid, fields in entries if _id(eid) > last_key]
            for eid, fields in fresh:
                e = keys.decode_obj(fields[b"e"])
                ts = (
                    datetime.fromtimestamp(e["timestamp"], UTC)
                    .isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z")
                )
                writer.writerow(
                    [
                        eid.decode(),
                        e["user_id"],
                        e["item_id"],
                        e["event"],
                        ts,
                        e.get("quantity", 1.0),
                        "" if e.get("price") is None else e["price"],
                        e.get("recommendation_id", ""),
                    ]
                )
            fh.flush()
            os.fsync(fh.fileno())  # durable before the stream forgets them
            if fresh:
                last_key = _id(fresh[-1][0])
            client.xdel(keys.EVENTS_STREAM, *[eid for eid, _ in entries])
            written += len(fresh)
            skipped += len(done)
    return {"written": written, "already_in_file": skipped}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-events", help="drain the live event stream into an events file")
    p.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    p.add_argument("--out", type=Path, required=True, help="CSV file to append to (created with a header)")
    p.add_argument("--batch", type=int, default=1000)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    result = export(args.redis, args.out, args.batch)
    print(
        f"exported {result['written']} events to {args.out}"
        + (f" ({result['already_in_file']} already there from an interrupted run)" if result["already_in_file"] else "")
    )
    return 0
