"""Live-events benchmark: ingestion throughput and the cost of live re-ranking on reads.

One gunicorn (same settings as the load benchmark) over a private Redis with a published synthetic
shop. Ingestion: 4 client threads posting single events, then batches of 500. Reads: the same
client reads recommendations of users without live events (the plain cached read) and of users with
five recent views (live re-ranking), interleaved, and compares median and p99 latency.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from tools.bench.load import gunicorn, published_shop
from tools.harness import service_env


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _post_many(base: str, bodies: list, threads: int = 4) -> float:
    """Seconds to post every body, spread over `threads` keep-alive sessions."""
    chunks = [bodies[k::threads] for k in range(threads)]

    def worker(chunk: list) -> None:
        with requests.Session() as s:
            for body in chunk:
                r = s.post(f"{base}/v1/events", json=body, timeout=10)
                r.raise_for_status()

    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start


def main(users: int = 20000, items: int = 2000, reads: int = 3000) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-live-"))
    servers: list = []
    try:
        url, result = published_shop(tmp, users, items, servers)
        server = gunicorn("recsvc.wsgi:app", service_env(url, tmp / "prom"))
        servers.append(server)
        base = server.base
        rng = random.Random(0)
        item_ids = [str(i) for i in result.item_ids]
        user_ids = [str(u) for u in result.user_ids]

        singles = [{"user_id": f"s{k}", "item_id": rng.choice(item_ids), "event": "view"} for k in range(4000)]
        single_s = _post_many(base, singles)
        batches = [
            {
                "events": [
                    {"user_id": f"b{k}-{j % 50}", "item_id": rng.choice(item_ids), "event": "view"} for j in range(500)
                ]
            }
            for k in range(80)
        ]
        batch_s = _post_many(base, batches)

        plain = user_ids[: len(user_ids) // 2]
        live = user_ids[len(user_ids) // 2 :]
        warm_live = rng.sample(live, 2000)
        for k in range(0, len(warm_live), 100):  # five recent views each
            requests.post(
                f"{base}/v1/events",
                json={
                    "events": [
                        {"user_id": u, "item_id": rng.choice(item_ids), "event": "view"}
                        for u in warm_live[k : k + 100]
                        for _ in range(5)
                    ]
                },
                timeout=10,
            ).raise_for_status()
        lat: dict[str, list[float]] = {"plain": [], "live": []}
        with requests.Session() as s:
            for k in range(200):  # warm-up
                s.get(f"{base}/v1/users/{plain[k]}/recommendations?n=10", timeout=5)
            for _ in range(reads):
                for name, pool in (("plain", plain), ("live", warm_live)):
                    u = pool[rng.randrange(len(pool))]
                    t = time.perf_counter()
                    r = s.get(f"{base}/v1/users/{u}/recommendations?n=10", timeout=5)
                    lat[name].append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn 2 workers x 4 threads; "
            f"{users} users, {items} items"
        )
        print(f"ingestion, single events: {len(singles) / single_s:.0f} events/s (4 client threads)")
        print(f"ingestion, batches of 500: {80 * 500 / batch_s:.0f} events/s ({80 / batch_s:.1f} batches/s)")
        med = {k: statistics.median(v) for k, v in lat.items()}
        p99 = {k: _percentile(v, 0.99) for k, v in lat.items()}
        print("| read | median ms | p99 ms |")
        print("|---|---|---|")
        for k in lat:
            print(f"| {k} | {med[k]:.2f} | {p99[k]:.2f} |")
        print(f"live / plain, median latency: {med['live'] / med['plain']:.2f}")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
