"""Load benchmark: wrk against gunicorn, the real service vs a bare Flask app, side by side in one run.

Both run under the same gunicorn.conf.py settings. The real requests ask for random known users with
filters (`n=10&exclude=<2 items>`, and a category on every fourth request), so every answer is
read from Redis and filtered at request time.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

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


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(app: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = dict(env, RECSVC_BIND=f"127.0.0.1:{port}", RECSVC_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                return proc, base
        except requests.RequestException:  # workers still importing
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(20)


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


def published_shop(tmp: Path, users: int, items: int, procs: list[subprocess.Popen]):
    """Start a private redis-server, train on a synthetic shop and publish it; returns (url, RunResult)."""
    from training.datasets.synthetic import generate, write
    from training.pipeline import RunConfig, run
    from training.publish import publish_result

    port = _port()
    procs.append(
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL
        )
    )
    time.sleep(0.5)
    write(generate(users, items, seed=1), tmp / "shop")
    result = run(
        RunConfig(events=[tmp / "shop/events.csv"], items=tmp / "shop/items.csv", evaluate=False, progress=False)
    )
    url = f"redis://127.0.0.1:{port}/0"
    publish_result(result, url)
    return url, result


def main(rounds: int = 3, seconds: int = 10, connections: int = 32, users: int = 20000, items: int = 2000) -> int:
    if not shutil.which("wrk") or not shutil.which("redis-server"):
        print("needs wrk and redis-server (make setup; apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        url, result = published_shop(tmp, users, items, procs)
        sample = random.Random(0).sample([str(u) for u in result.user_ids], min(5000, len(result.user_ids)))
        (tmp / "users.txt").write_text("\n".join(sample) + "\n")
        cats = ",".join(f'"{c}"' for c in sorted(k for k in result.popular if k))
        script = tmp / "load.lua"
        script.write_text(LUA % {"users": tmp / "users.txt", "cats": cats})
        env = dict(os.environ, REDIS_URL=url, PROMETHEUS_MULTIPROC_DIR=str(tmp / "prom"))
        os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        runs: dict[str, list[dict]] = {"bare": [], "recsvc": []}
        for _ in range(rounds):
            for name, app in (("bare", "training.bench.bare_app:app"), ("recsvc", "recsvc.wsgi:app")):
                proc, base = gunicorn(app, env)
                procs.append(proc)
                _wrk(base, script, 2, connections)  # warm-up: imports, catalog and connection pools
                runs[name].append(_wrk(base, script, seconds, connections, measure=[proc.pid, procs[0].pid]))
                _stop(proc)
        med = {
            n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            for n, rs in runs.items()
        }
        errors = {n: sum(r["errors"] for r in rs) for n, rs in runs.items()}
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn workers "
            f"{os.environ.get('WEB_CONCURRENCY', '2')} x {os.environ.get('RECSVC_THREADS', '4')} threads (gthread); "
            f"wrk -t2 -c{connections} -d{seconds}s x {rounds} rounds, alternating; {users} users, {items} items"
        )
        print("| app | median req/s | median p50 ms | median p99 ms | CPU us/request | errors |")
        print("|---|---|---|---|---|---|")
        for n in runs:
            m = med[n]
            print(f"| {n} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_us']:.0f} | {errors[n]} |")
        print(f"ratio recsvc/bare (median req/s): {med['recsvc']['rps'] / med['bare']['rps']:.2f}")
        # CPU per request (gunicorn + Redis) is steadier than req/s on a shared machine: other tenants
        # slow both apps' wall clock, much less the CPU each request costs.
        print(f"ratio bare/recsvc (median CPU per request): {med['bare']['cpu_us'] / med['recsvc']['cpu_us']:.2f}")
        print("per round req/s:", {n: [round(r["rps"]) for r in rs] for n, rs in runs.items()})
        print("per round CPU us/request:", {n: [round(r["cpu_us"]) for r in rs] for n, rs in runs.items()})
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
