"""`python -m training export-events`: drain the live event stream(s) into an events file in the contract.

One Redis has one stream; a Redis Cluster has `keys.EVENT_SHARDS` of them (sharded by user), drained
one after another. Crash-safe: for each batch of a shard,

  1. its rows are appended and the file fsync'ed,
  2. a checkpoint next to the file (`<out>.checkpoint.json`: the last stream id written per shard and
     the file's size) is written to a temporary file, fsync'ed and renamed over the old one,
  3. only then are the entries deleted from the stream.

Events of erased customers (the suppression list, contract/erasure.py) are deleted from the stream
without being written. A rerun cuts a half-written last line, takes the checkpoint and reads the rows written after it (at
most one batch, when the crash fell between 1 and 2), and skips (and deletes) the stream entries at or
below each shard's mark: nothing is lost and nothing is written twice. Marks per shard are needed
because stream ids are only ordered within one stream, and because a failover can bring back entries
whose deletion the dead master had acknowledged but not replicated. The file's `event_id` is the
stream id on one Redis and `<shard>:<stream id>` on a cluster (ids of different shards may collide).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from contract import connection, erasure, keys, records
from training.publish.redis_publisher import connect

STREAM_FIELD = records.STREAM_FIELD.encode()
COLUMNS = ["event_id", "user_id", "item_id", "event", "timestamp", "quantity", "price", "recommendation_id", "order_id"]
StreamId = tuple[int, int]
NOTHING: StreamId = (-1, -1)


def _sid(value: bytes | str) -> StreamId:
    ms, _, seq = (value.decode() if isinstance(value, bytes) else value).partition("-")
    return int(ms), int(seq or 0)


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint.json")


def _event_id(shard: int, shards: int, stream_id: str) -> str:
    return stream_id if shards == 1 else f"{shard}:{stream_id}"


def _shard_of(event_id: str) -> tuple[int, StreamId]:
    shard, sep, sid = event_id.rpartition(":")
    return (int(shard) if sep else 0), _sid(sid)


def _marks(out: Path) -> dict[int, StreamId]:
    """Per-shard high-water marks: the checkpoint's, brought up to date with the rows written after it
    (a half-written last line is cut first)."""
    marks: dict[int, StreamId] = {}
    offset = 0
    cp = checkpoint_path(out)
    if cp.exists():
        saved = json.loads(cp.read_text())
        marks = {int(k): tuple(v) for k, v in saved["marks"].items()}
        offset = saved["size"]
    if not out.exists():
        return marks
    with out.open("rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            fh.seek(cut)
            fh.truncate()
            data = data[:cut]
    if offset > len(data):  # the file is not the one the checkpoint describes: read all of it
        offset = 0
    for row in csv.reader(data[offset:].decode("utf-8").splitlines()):
        if row and row[0] != COLUMNS[0]:
            shard, sid = _shard_of(row[0])
            marks[shard] = max(marks.get(shard, NOTHING), sid)
    return marks


def _save_marks(out: Path, marks: dict[int, StreamId], size: int) -> None:
    cp = checkpoint_path(out)
    tmp = cp.with_name(cp.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump({"marks": {str(k): list(v) for k, v in marks.items()}, "size": size}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, cp)


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def _row(event_id: str, e: records.StreamEvent, with_order: bool) -> list:
    ts = datetime.fromtimestamp(e.timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    price = "" if e.price is None else e.price
    row = [event_id, e.user_id, e.item_id, e.event, ts, e.quantity, price, e.recommendation_id or ""]
    return row + ([e.order_id or ""] if with_order else [])


def export_stream(url: str, out: Path, batch: int = 1000) -> dict[str, int]:
    """Append every stream entry (of every shard) to `out` and delete it; counts written, skipped (already
    in the file) and suppressed (events of erased customers, deleted unwritten)."""
    client = connect(url)
    shards = connection.event_shards(client)
    out.parent.mkdir(parents=True, exist_ok=True)
    marks = _marks(out)
    new_file = not out.exists() or out.stat().st_size == 0
    # A file begun before order ids were exported keeps its columns (every row as long as its header).
    with_order = new_file or _header(out)[-1:] == ["order_id"]
    written = skipped = suppressed = 0
    with out.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if new_file:
            writer.writerow(COLUMNS if with_order else COLUMNS[:-1])
            fh.flush()
            os.fsync(fh.fileno())
        for shard, stream in enumerate(keys.event_streams(shards)):
            while True:
                entries = client.xrange(stream, min="-", max="+", count=batch)
                if not entries:
                    break
                mark = marks.get(shard, NOTHING)
                fresh = [
                    (eid, records.decode(fields[STREAM_FIELD], records.StreamEvent))
                    for eid, fields in entries
                    if _sid(eid) > mark
                ]
                erased = erasure.suppressed_among(client, {e.user_id for _, e in fresh})
                for eid, e in fresh:
                    if e.user_id in erased:
                        suppressed += 1
                    else:
                        writer.writerow(_row(_event_id(shard, shards, eid.decode()), e, with_order))
                fh.flush()
                os.fsync(fh.fileno())  # durable before the stream forgets them
                if fresh:
                    marks[shard] = _sid(fresh[-1][0])
                    _save_marks(out, marks, os.fstat(fh.fileno()).st_size)
                client.xdel(stream, *[eid for eid, _ in entries])
                written += sum(e.user_id not in erased for _, e in fresh)
                skipped += len(entries) - len(fresh)
    return {"written": written, "already_in_file": skipped, "suppressed": suppressed}
