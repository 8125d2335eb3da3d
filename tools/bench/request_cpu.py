"""`python -m tools bench request-cpu`: CPU time per GET recommendations request inside one process
(Flask's test client, no gunicorn or wrk), cached and with the worker caches off, against a Redis with a
published 20,000-user synthetic shop: the same request mix as `bench load`. Process CPU time, not wall
time, so a busy machine moves it little; copied into an older tree, it measures that tree's code the
same way (docs/benchmarks.md, issue 13)."""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from tools.harness import RedisServer, free_port

CACHES_OFF = {"RECSVC_LOCAL_CACHE_USERS": "0", "RECSVC_LIVE_CACHE_USERS": "0"}


def main(requests: int = 5000, reps: int = 5) -> int:
    from training.datasets.synthetic import generate, write
    from training.pipeline import RunConfig, run
    from training.publish.redis_publisher import publish_result

    tmp = Path(tempfile.mkdtemp(prefix="recsvc-request-cpu-"))
    server = RedisServer(free_port(), tmp / "redis").start()
    saved = dict(os.environ)
    try:
        write(generate(20000, 2000, seed=1), tmp / "shop")
        config = RunConfig(
            events=[tmp / "shop/events.csv"], items=tmp / "shop/items.csv", evaluate=False, progress=False
        )
        result = run(config)
        publish_result(result, server.url)
        os.environ["REDIS_URL"] = server.url
        from recsvc.app import create_app

        cats = sorted(k for k in result.popular if k)
        users = random.Random(0).sample([str(u) for u in result.user_ids], 5000)
        for label, env in (("cached", {}), ("caches off", CACHES_OFF)):
            os.environ.update(env)
            client = create_app().test_client()
            rng = random.Random(1)

            def one(k: int, client=client, rng=rng) -> None:
                path = f"/v1/users/{rng.choice(users)}/recommendations?n=10&exclude=I000001,I000002"
                if k % 4 == 0:
                    path += "&category=" + rng.choice(cats)
                answer = client.get(path)
                assert answer.status_code == 200, answer.data[:200]

            for k in range(4 * requests):  # every sampled user cached (where caches are on)
                one(k)
            per = []
            for _ in range(reps):
                t = time.process_time()
                for k in range(requests):
                    one(k)
                per.append((time.process_time() - t) / requests * 1e6)
            print(f"{label}: CPU us/request {[round(p) for p in per]}, median {statistics.median(per):.0f}", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
    return 0
