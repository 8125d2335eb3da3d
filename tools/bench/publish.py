"""Bulk publish benchmark: N users x K items (plus 20k similar-item lists) into a fresh local Redis, or a
fresh local 3 x 3 Redis Cluster with `--cluster`."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np
import pandas as pd

from tools.harness import RedisCluster3x3, RedisServer, free_port
from training.pipeline import RunResult
from training.run_report import RunReport


def synthetic_result(n_users: int, per_user: int, n_items: int = 20_000, seed: int = 0) -> RunResult:
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"I{k:06d}" for k in range(n_items)], dtype=object)
    user_ids = np.array([f"U{k:07d}" for k in range(n_users)], dtype=object)
    rec_index = rng.integers(0, n_items, (n_users, per_user))
    rec_items = item_ids[rec_index]
    rec_scores = np.sort(rng.random((n_users, per_user), dtype=np.float32), axis=1)[:, ::-1]
    sim_index = rng.integers(0, n_items, (n_items, 20))
    sim_items = item_ids[sim_index]
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
        report=RunReport(config={}, inputs={}, items_not_in_catalog={}),
        rec_index=rec_index,  # as training hands them over (training/pipeline.py)
        similar_index=sim_index,
    )


def _decode_us(result: RunResult) -> tuple[float, float]:
    """Microseconds to decode one published 100-item user list into what a worker caches: the previous
    format (msgpack ids + float32, then ids mapped to the catalog's strings) and the indexed one."""
    from contract import codecs

    ids = [str(i) for i in result.item_ids]
    canonical = {i: i for i in ids}
    index = {item: k for k, item in enumerate(ids)}
    rows = [(list(result.rec_items[k]), result.rec_scores[k]) for k in range(200)]
    old = [codecs.encode_list(items, scores) for items, scores in rows]
    new = [
        codecs.encode_indexed([index[i] for i in items], scores, codecs.index_kind(len(ids))) for items, scores in rows
    ]

    def before(blob: bytes):
        got, scores = codecs.decode_list(blob)
        return [canonical.get(i, i) for i in got], array("d", scores)

    def timed(fn, blobs) -> float:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(10):
                for b in blobs:
                    fn(b)
            best = min(best, (time.perf_counter() - t) / (10 * len(blobs)))
        return best * 1e6

    return timed(before, old), timed(lambda b: codecs.decode_indexed(b, ids), new)


def _used_memory(clients: list) -> int:
    return sum(c.info("memory")["used_memory"] for c in clients)


def main(n_users: int, per_user: int, cluster: bool = False) -> int:
    if not shutil.which("redis-server"):
        print("needs redis-server", file=sys.stderr)
        return 2
    from contract import connection
    from training.publish.redis_publisher import connect, publish_result

    workdir = Path(tempfile.mkdtemp(prefix="recsvc-pub-"))
    server = RedisCluster3x3(workdir).start() if cluster else RedisServer(free_port(), workdir).start()
    try:
        url = server.url
        masters = connection.primaries(connect(url))
        before = _used_memory(masters)
        t = time.perf_counter()
        result = synthetic_result(n_users, per_user)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        version = publish_result(result, url)
        publish_s = time.perf_counter() - t
        used = _used_memory(masters) - before
        where = "a 3-master Redis Cluster (3 replicas)" if cluster else "one redis-server"
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores; redis-server {masters[0].info()['redis_version']}"
        )
        print(
            f"published {n_users} users x {per_user} items (+ {len(result.item_ids)} similar lists, "
            f"3 purchases per user) as {version} to {where}"
        )
        print(f"publish time: {publish_s:.1f}s ({n_users / publish_s:.0f} users/s); building the input: {build_s:.1f}s")
        print(
            f"redis memory (masters): {used / 2**20:.0f} MiB in all, {used / n_users:.0f} bytes per user "
            f"(list + purchases + key overhead){'; each replica holds a second copy' if cluster else ''}"
        )
        if cluster:
            print("keys per master:", [m.dbsize() for m in masters])
        old_us, new_us = _decode_us(result)
        print(
            f"decoding one {per_user}-item list for the worker cache: {old_us:.1f} us before (ids), {new_us:.1f} us indexed"
        )
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
