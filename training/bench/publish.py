"""Bulk publish benchmark: N users x K items (plus 20k similar-item lists) into a fresh local Redis."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import redis

from training.pipeline import RunResult


def synthetic_result(n_users: int, per_user: int, n_items: int = 20_000, seed: int = 0) -> RunResult:
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"I{k:06d}" for k in range(n_items)], dtype=object)
    user_ids = np.array([f"U{k:07d}" for k in range(n_users)], dtype=object)
    rec_items = item_ids[rng.integers(0, n_items, (n_users, per_user))]
    rec_scores = np.sort(rng.random((n_users, per_user), dtype=np.float32), axis=1)[:, ::-1]
    sim_items = item_ids[rng.integers(0, n_items, (n_items, 20))]
    sim_scores = np.sort(rng.random((n_items, 20), dtype=np.float32), axis=1)[:, ::-1]
    bought_idx = rng.integers(0, n_items, (n_users, 3))
    purchased = {u: list(item_ids[row]) for u, row in zip(user_ids, bought_idx)}
    catalog = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": "A product",
            "category": "c",
            "available": True,
            "price": 1.0,
            "in_catalog": True,
        }
    )
    pop = [(str(i), 1.0) for i in item_ids[:100]]
    return RunResult(
        user_ids=user_ids,
        rec_items=rec_items,
        rec_scores=rec_scores,
        item_ids=item_ids,
        similar_items=sim_items,
        similar_scores=sim_scores,
        popular={"": pop, "c": pop},
        trending={"": pop},
        purchased=purchased,
        catalog=catalog,
        events=pd.DataFrame(),
        users_frame=None,
        report={},
    )


def main(n_users: int, per_user: int) -> int:
    if not shutil.which("redis-server"):
        print("needs redis-server", file=sys.stderr)
        return 2
    from training.publish import publish_result

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="recsvc-pub-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--dir", workdir], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.5)
        client = redis.Redis(port=port)
        before = client.info("memory")["used_memory"]
        t = time.perf_counter()
        result = synthetic_result(n_users, per_user)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        version = publish_result(result, f"redis://127.0.0.1:{port}/0")
        publish_s = time.perf_counter() - t
        used = client.info("memory")["used_memory"] - before
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; redis-server {client.info()['redis_version']}")
        print(
            f"published {n_users} users x {per_user} items (+ {len(result.item_ids)} similar lists, "
            f"3 purchases per user) as {version}"
        )
        print(f"publish time: {publish_s:.1f}s ({n_users / publish_s:.0f} users/s); building the input: {build_s:.1f}s")
        print(
            f"redis memory: {used / 2**20:.0f} MiB in all, {used / n_users:.0f} bytes per user "
            f"(list + purchases + key overhead)"
        )
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
