"""Privacy benchmark: how long an erasure takes (versions, event stream), what re-applying erasures costs a
publish, and what reading consent adds to the recommendations round trip. A fresh local redis-server."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from contract import erasure, keys, records
from recsvc.settings import Settings
from recsvc.store.connection import RedisConnection
from tools.bench.publish import synthetic_result
from tools.harness import RedisServer, free_port


def _fill_stream(client, n: int, users: int) -> None:
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for k in range(n):
        e = records.StreamEvent(user_id=f"U{k % users:07d}", item_id=f"I{k % 20000:06d}", event="view", timestamp=now)
        pipe.xadd(keys.EVENTS_STREAM, {records.STREAM_FIELD: records.encode(e)})
        if k % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def _erase_seconds(client, users: list[str]) -> float:
    started = time.perf_counter()
    erasure.erase(client, users, requested_by="bench")
    return time.perf_counter() - started


def _round_trip_us(conn: RedisConnection, commands: list[tuple], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.round_trip(*commands)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def main(n_users: int, stream: int, versions: int) -> int:
    if not shutil.which("redis-server"):
        print("needs redis-server", file=sys.stderr)
        return 2
    from training.data.privacy import late_erasures
    from training.publish.redis_publisher import publish_result

    server = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="recsvc-privacy-"))).start()
    try:
        client = server.client()
        result = synthetic_result(n_users, 100)
        t = time.perf_counter()
        published = [publish_result(result, server.url, keep=versions) for _ in range(versions)]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared); redis {client.info()['redis_version']}")
        print(f"{versions} versions of {n_users} users x 100 items published in {time.perf_counter() - t:.1f} s")

        rows = []
        one = [_erase_seconds(client, [f"U{k:07d}"]) for k in range(5)]
        rows.append(("1 customer, empty stream", statistics.median(one)))
        rows.append(
            ("1,000 customers at once, empty stream", _erase_seconds(client, [f"U{k:07d}" for k in range(10, 1010)]))
        )
        _fill_stream(client, stream, n_users)
        one = [_erase_seconds(client, [f"U{k:07d}"]) for k in range(2000, 2005)]
        rows.append((f"1 customer, stream of {stream:,} events", statistics.median(one)))
        print("\n| erasure | seconds |\n|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.3f} |")

        # A publish's last step: hash every user it names, look them up (1,011 erased so far).
        t = time.perf_counter()
        late = late_erasures(client, published[-1], result)
        late_s = time.perf_counter() - t
        print(f"\nre-applying erasures before a publish switches ({n_users:,} users, {late} erased): {late_s:.2f} s")

        conn = RedisConnection(Settings(redis_url=server.url))
        v, u = published[-1], "U0500000" if n_users > 500_000 else f"U{n_users - 1:07d}"
        live = [("LRANGE", keys.recent(u), 0, keys.RECENT_LENGTH - 1), ("SMEMBERS", keys.live_bought(u))]
        lists = ("MGET", keys.recs(v, u), keys.profile(v, u))
        cases = {
            "before (live state + lists)": [*live, lists],
            "now (+ consent)": [*live, ("GET", keys.consent(u)), lists],
            "before (live state only, lists cached)": live,
            "now (+ consent, + EXISTS of the cached lists' keys)": [
                *live,
                ("GET", keys.consent(u)),
                ("EXISTS", keys.recs(v, u), keys.profile(v, u)),
            ],
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(10):  # interleaved rounds: the machine is shared, drift hits every case alike
            for name, commands in cases.items():
                samples[name] += _round_trip_us(conn, commands, 2000)
        print("\n| user-state round trip (one miss) | median us | p99 us |\n|---|---|---|")
        for name, values in samples.items():
            values.sort()
            print(f"| {name} | {statistics.median(values):.1f} | {values[int(len(values) * 0.99)]:.1f} |")
    finally:
        server.stop()
    return 0
