"""Failover benchmark: a master of a local 3 x 3 Redis Cluster is SIGKILLed while clients ask for
recommendations through gunicorn (the service's default settings).

Each run publishes a synthetic shop to a fresh cluster, starts the service, lets 4 client threads ask
for the recommendations of users spread over the three masters, then kills the master that holds the
active-version pointer (the worst case: it also serves a third of the users). Measured from the kill:
when the cluster promoted the replica (as its nodes report it), when the dead master's users got
personalized answers again (from the promoted replica), how many answers came from the fallback
meanwhile (its users' and the others'), how many failed (any status but 200), and how long /readyz
said 503.
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
from collections import Counter
from pathlib import Path

import requests

from contract import keys
from tools.harness import RedisCluster3x3, service_env, start_gunicorn


def _shop(tmp: Path, users: int, items: int):
    from training.datasets.synthetic import generate, write
    from training.pipeline import RunConfig, run

    write(generate(users, items, seed=1), tmp / "shop")
    return run(
        RunConfig(events=[tmp / "shop/events.csv"], items=tmp / "shop/items.csv", evaluate=False, progress=False)
    )


def _poll(base: str, users: list[str], stop: threading.Event, log: list, seed: int) -> None:
    rng = random.Random(seed)
    with requests.Session() as session:
        while not stop.is_set():
            user = rng.choice(users)
            t = time.monotonic()
            try:
                r = session.get(f"{base}/v1/users/{user}/recommendations?n=10", timeout=5)
                log.append((t, user, r.status_code, r.json().get("source") if r.status_code == 200 else None))
            except Exception:  # noqa: BLE001 - a failed answer is what we count
                log.append((t, user, 0, None))


def one_run(tmp: Path, result) -> dict:
    from training.publish.redis_publisher import publish_result

    cluster = RedisCluster3x3(tmp / "cluster").start()
    server = None
    try:
        publish_result(result, cluster.url)
        cluster.wait_replicated()
        server = start_gunicorn("recsvc.wsgi:app", service_env(cluster.url, tmp / "prom", RECSVC_LOG_LEVEL="WARNING"))
        pointer = cluster.master_of(keys.ACTIVE)
        users = [str(u) for u in result.user_ids[:600]]
        victims = {u for u in users if cluster.master_of(keys.recent(u)) == pointer}
        log: list = []
        stop = threading.Event()
        threads = [threading.Thread(target=_poll, args=(server.base, users, stop, log, k)) for k in range(4)]
        ready: list[tuple[float, int]] = []
        for t in threads:
            t.start()
        time.sleep(3)  # warm: every worker has the version, the catalog and the fallback snapshot
        killed = time.monotonic()
        cluster.kill_master(keys.ACTIVE)
        promoted_at = None
        while time.monotonic() - killed < 12:
            ready.append((time.monotonic(), server.get("/readyz").status_code))
            if promoted_at is None:
                try:
                    if cluster.master_of(keys.ACTIVE) != pointer:
                        promoted_at = time.monotonic()
                except Exception:  # noqa: BLE001 - a node may be failing over itself
                    pass
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
    after = [x for x in log if x[0] >= killed]
    victim_fallback = [t for t, u, _, s in after if u in victims and s == "fallback"]
    back = max(victim_fallback) - killed if victim_fallback else 0.0
    not_ready = [t for t, status in ready if status != 200]
    return {
        "promoted_s": (promoted_at - killed) if promoted_at else float("nan"),
        "back_s": back,
        "answers": len(after),
        "fallback_victims": len(victim_fallback),
        "fallback_others": sum(1 for _, u, _, s in after if u not in victims and s == "fallback"),
        "failed": sum(1 for x in log if x[2] != 200),
        "readyz_503_s": (max(not_ready) - min(not_ready)) if not_ready else 0.0,
        "victim_share": len(victims) / len(users),
        "sources": Counter(s for *_, s in after),
    }


def main(runs: int = 3, users: int = 3000, items: int = 400) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-failover-"))
    try:
        result = _shop(tmp, users, items)
        results = []
        for k in range(runs):
            results.append(one_run(tmp / f"run{k}", result))
            r = results[-1]
            print(
                f"run {k + 1}: replica promoted {r['promoted_s']:.2f}s after the kill, the dead master's users "
                f"personalized again after {r['back_s']:.2f}s; {r['answers']} answers since the kill, fallback: "
                f"{r['fallback_victims']} (its users) + {r['fallback_others']} (others), failed {r['failed']}, "
                f"/readyz 503 for {r['readyz_503_s']:.2f}s; sources {dict(r['sources'])}"
            )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
            f"{runs} runs, cluster-node-timeout 2000 ms, service defaults (2 workers x 4 threads), 4 client threads"
        )
        print("| | median | runs |")
        print("|---|---|---|")
        for label, key, fmt in (
            ("replica promoted (s after the kill)", "promoted_s", "{:.2f}"),
            ("its users personalized again (s)", "back_s", "{:.2f}"),
            ("fallback answers, the dead master's users", "fallback_victims", "{:.0f}"),
            ("fallback answers, other users", "fallback_others", "{:.0f}"),
            ("failed answers (not 200)", "failed", "{:.0f}"),
            ("/readyz 503 (s)", "readyz_503_s", "{:.2f}"),
        ):
            values = [r[key] for r in results]
            print(f"| {label} | {fmt.format(statistics.median(values))} | {', '.join(fmt.format(v) for v in values)} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
