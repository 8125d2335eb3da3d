"""Load benchmark: wrk against gunicorn, the real service vs a bare Flask app, side by side in one run.

All run under the same gunicorn.conf.py settings. The real requests ask for random known users with
filters (`n=10&exclude=<2 items>`, and a category on every fourth request), filtered at request time.
recsvc runs twice: with its defaults, after a warm-up long enough for each worker to have met the
sampled users (a long-running service with a 5,000-user active set: the answer comes from the worker's
caches), and with those caches off (`RECSVC_LOCAL_CACHE_USERS=0 RECSVC_LIVE_CACHE_USERS=0`: every
request reads the user's list, purchases and live events from Redis in one round trip, as for a user
the worker has not seen). The share of lookups answered from memory is read from /metrics.

With `--cluster` the same published shop is also on a local 3 x 3 Redis Cluster, and recsvc runs
against one Redis and against the cluster, with and without its caches, alternating in one run; the
ratios are to recsvc on one Redis.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tools.harness import Gunicorn, RedisCluster3x3, RedisServer, free_port, service_env, start_gunicorn

ROOT = Path(__file__).resolve().parents[2]
LUA = r"""
local users = {}
for line in io.lines("%(users)s") do users[#users + 1] = line end
local cats = {%(cats)s}
local counter = 0
request = function()
  counter = counter + 1
  local u = users[math.random(#users)]
  local path = "/v1/users/" .. u .. "/recommendations?n=10&exclude=I000001,I000002"
  if counter %% 4 == 0 then path = path .. "&category=" .. cats[math.random(#cats)] end
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout
  io.write(string.format("JSON {\"requests\": %%d, \"seconds\": %%f, \"errors\": %%d, \"p50_ms\": %%f, \"p99_ms\": %%f}\n",
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def gunicorn(app: str, env: dict) -> Gunicorn:
    """The app under gunicorn with warnings-only logs (no access log in the measurement)."""
    return start_gunicorn(app, dict(env, RECSVC_LOG_LEVEL="WARNING"))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = list(pids)
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def _workers_rss_mib(master: int) -> float:
    """Resident memory of gunicorn's workers, summed (Linux /proc)."""
    total = 0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _wrk(base: str, script: Path, seconds: int, connections: int, measure: list[int] | None = None) -> dict:
    """One wrk run; with `measure`, also the CPU microseconds those processes spent per request."""
    before = _cpu_seconds(measure) if measure else 0.0
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / result["seconds"]
    if measure:
        result["cpu_us"] = (_cpu_seconds(measure) - before) / max(result["requests"], 1) * 1e6
    return result


def published_shop(tmp: Path, users: int, items: int, servers: list):
    """Start a private redis-server (appended to `servers`), train on a synthetic shop and publish it;
    returns (url, RunResult)."""
    from training.datasets.synthetic import generate, write
    from training.pipeline import RunConfig, run
    from training.publish.redis_publisher import publish_result

    server = RedisServer(free_port(), tmp / "redis").start()
    servers.append(server)
    write(generate(users, items, seed=1), tmp / "shop")
    result = run(
        RunConfig(events=[tmp / "shop/events.csv"], items=tmp / "shop/items.csv", evaluate=False, progress=False)
    )
    publish_result(result, server.url)
    return server.url, result


def wrk_script(tmp: Path, result) -> tuple[Path, list[str]]:
    """The wrk Lua script over 5,000 sampled published users and the shop's categories; and the users."""
    sample = random.Random(0).sample([str(u) for u in result.user_ids], min(5000, len(result.user_ids)))
    (tmp / "users.txt").write_text("\n".join(sample) + "\n")
    cats = ",".join(f'"{c}"' for c in sorted(k for k in result.popular if k))
    script = tmp / "load.lua"
    script.write_text(LUA % {"users": tmp / "users.txt", "cats": cats})
    return script, sample


CACHES_OFF = {"RECSVC_LOCAL_CACHE_USERS": "0", "RECSVC_LIVE_CACHE_USERS": "0"}
APPS = (
    ("bare", "tools.bench.bare_app:app", {}),
    ("recsvc", "recsvc.wsgi:app", {}),
    ("recsvc, caches off", "recsvc.wsgi:app", CACHES_OFF),
)
CLUSTER_APPS = (  # the last field: against the cluster
    ("recsvc, one Redis", "recsvc.wsgi:app", {}, False),
    ("recsvc, cluster", "recsvc.wsgi:app", {}, True),
    ("caches off, one Redis", "recsvc.wsgi:app", CACHES_OFF, False),
    ("caches off, cluster", "recsvc.wsgi:app", CACHES_OFF, True),
)


def _user_state_counts(base: str) -> dict[str, float]:
    """recsvc_user_state_total by source (memory, redis), summed over the workers."""
    out = {"memory": 0.0, "redis": 0.0}
    for family in text_string_to_metric_families(requests.get(base + "/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "recsvc_user_state_total":
                out[sample.labels["source"]] += sample.value
    return out


def in_process(urls: dict[str, str], users: list[str], rounds: int = 7) -> dict[str, dict[str, float]]:
    """Median microseconds of `recommendations()` per request in this process (no HTTP, no other process
    on the request's path but Redis): cached users, and with the worker caches off."""
    from recsvc.logic.recommend import recommendations
    from recsvc.settings import Settings
    from recsvc.store import Store

    out: dict[str, dict[str, float]] = {}
    for label, extra in (("cached", {}), ("caches off", {"local_cache_users": 0, "live_cache_users": 0})):
        stores = {name: Store(Settings(redis_url=url, **extra)) for name, url in urls.items()}
        for store in stores.values():  # warm: catalogs, lists, listeners
            for user in users:
                recommendations(store, user, 10, None, set())
        times: dict[str, list[float]] = {name: [] for name in stores}
        for _ in range(rounds):
            for name, store in stores.items():
                started = time.perf_counter()
                for user in users:
                    recommendations(store, user, 10, None, {"I000001", "I000002"})
                times[name].append((time.perf_counter() - started) / len(users) * 1e6)
        out[label] = {name: statistics.median(t) for name, t in times.items()}
    return out


def main(
    rounds: int = 3,
    seconds: int = 10,
    connections: int = 32,
    users: int = 20000,
    items: int = 2000,
    warmup: int = 10,
    cluster: bool = False,
) -> int:
    if not shutil.which("wrk") or not shutil.which("redis-server"):
        print("needs wrk and redis-server (make setup; apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-bench-"))
    servers: list = []
    try:
        url, result = published_shop(tmp, users, items, servers)
        script, sample = wrk_script(tmp, result)
        env = service_env(url, tmp / "prom")
        redis_pids = [servers[0].proc.pid]
        apps = [(name, app, extra, env) for name, app, extra in APPS]
        if cluster:
            from training.publish.redis_publisher import publish_result

            nodes = RedisCluster3x3(tmp / "cluster").start()
            servers.append(nodes)
            publish_result(result, nodes.url)
            cluster_env = service_env(nodes.url, tmp / "prom")
            redis_pids += [n.proc.pid for n in nodes.nodes]
            apps = [(name, app, extra, cluster_env if on else env) for name, app, extra, on in CLUSTER_APPS]
        runs: dict[str, list[dict]] = {name: [] for name, *_ in apps}
        for _ in range(rounds):
            for name, app, extra, app_env in apps:
                server = gunicorn(app, app_env | extra)
                servers.append(server)
                proc, base = server.proc, server.base
                # Warm-up (imports, catalog, connection pools, caches) in short runs: each wrk run opens new
                # keep-alive connections, which the workers accept unevenly (often 27 to 5), so one long
                # run can leave a worker that later gets its share of connections with a cold cache.
                for _ in range(max(1, warmup // 2)):
                    _wrk(base, script, 2, connections)
                before = _user_state_counts(base) if name != "bare" else None
                runs[name].append(_wrk(base, script, seconds, connections, measure=[proc.pid, *redis_pids]))
                runs[name][-1]["rss_mib"] = _workers_rss_mib(proc.pid)
                if before is not None:
                    after = _user_state_counts(base)
                    got = {k: after[k] - before[k] for k in after}
                    runs[name][-1]["memory_share"] = got["memory"] / max(1.0, got["memory"] + got["redis"])
                server.stop()
        med = {
            n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us", "rss_mib")}
            for n, rs in runs.items()
        }
        errors = {n: sum(r["errors"] for r in rs) for n, rs in runs.items()}
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn workers "
            f"{os.environ.get('WEB_CONCURRENCY', '2')} x {os.environ.get('RECSVC_THREADS', '4')} threads (gthread); "
            f"wrk -t2 -c{connections} -d{seconds}s after {warmup} s warm-up, x {rounds} rounds, alternating; "
            f"{users} users ({len(sample)} asked for), {items} items"
        )
        print(
            "| app | median req/s | ratio | median p50 ms | median p99 ms | CPU us/request | CPU ratio "
            "| from memory | workers' RSS MiB | errors |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        bare = med[apps[0][0]]  # the reference: the bare app, or recsvc on one Redis
        for n, rs in runs.items():
            m = med[n]
            share = statistics.median(r["memory_share"] for r in rs) if "memory_share" in rs[0] else None
            print(
                f"| {n} | {m['rps']:.0f} | {m['rps'] / bare['rps']:.2f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} "
                f"| {m['cpu_us']:.0f} | {bare['cpu_us'] / m['cpu_us']:.2f} | "
                f"{'-' if share is None else f'{share:.1%}'} | {m['rss_mib']:.0f} | {errors[n]} |"
            )
        # CPU per request (gunicorn + Redis) is steadier than req/s on a shared machine: other tenants
        # slow every app's wall clock, much less the CPU each request costs.
        print("per round req/s:", {n: [round(r["rps"]) for r in rs] for n, rs in runs.items()})
        print("per round CPU us/request:", {n: [round(r["cpu_us"]) for r in rs] for n, rs in runs.items()})
        print("per round from memory:", {n: [round(r.get("memory_share", 0), 3) for r in rs] for n, rs in runs.items()})
        if cluster:
            inproc = in_process({"one Redis": url, "cluster": nodes.url}, sample[:1000])
            print(
                "in-process recommendations(), median us per request: "
                + "; ".join(
                    f"{label}: one Redis {t['one Redis']:.1f}, cluster {t['cluster']:.1f} "
                    f"(ratio {t['one Redis'] / t['cluster']:.2f})"
                    for label, t in inproc.items()
                )
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
