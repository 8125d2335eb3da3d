"""`python -m tools bench rules`: recommendation latency with 5 active business rules against none, one run.

One gunicorn serves the same wrk load (random known users, `n=10`, two excluded items, a category on
every fourth request; tools/bench/load.py) with the rules off and on, alternating per round: the rules
are set and cleared through PUT /v1/rules between runs, so both halves share the process, its caches
and the machine's load. CPU per request (gunicorn + Redis) is the steadier measure on a shared machine.
Then an in-process loop times `recommend.recommendations` itself (the logic a request runs, without
HTTP) with and without the rules, on the same users.

The 5 rules: boost a brand, bury a price range, exclude a category for one lifecycle stage (so the
user's segments are read), at most 2 per category in the top 10, one pinned item.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from tools.bench.load import _wrk, gunicorn, published_shop, wrk_script
from tools.harness import service_env

KEY = "bench-key"


def five_rules(result) -> dict:
    cat = result.catalog[result.catalog["in_catalog"]]
    brand = cat["brand"].value_counts().index[0]
    category = sorted(cat["category"].unique())[0]
    return {
        "rules": [
            {"id": "brand-up", "type": "boost", "match": {"brands": [brand]}, "weight": 0.3},
            {"id": "cheap-down", "type": "bury", "match": {"price": {"max": 10}}, "weight": 0.2},
            {"id": "at-risk-no-cat", "type": "exclude", "match": {"categories": [category]}, "lifecycle": ["at_risk"]},
            {"id": "two-per-category", "type": "diversity", "max_per_category": 2, "top_k": 10},
            {"id": "campaign", "type": "pin", "item": str(cat["item_id"].iloc[0]), "position": 2},
        ]
    }


def _in_process(url: str, users: list[str], rules: dict, loops: int = 3) -> dict[str, float]:
    """Median microseconds per `recommendations` call, without and with the rules (same users, warm caches)."""
    from contract.rules import StoredRules, parse_rules
    from recsvc.logic.recommend import recommendations
    from recsvc.settings import Settings
    from recsvc.store import Store

    store = Store(Settings(redis_url=url, access_log=False))
    stored = StoredRules(rules=parse_rules(rules).rules, source="bench")
    out: dict[str, list[float]] = {"no rules": [], "5 rules": []}
    for user in users:  # warm every cache both ways
        recommendations(store, user, 10, None, set(), ruleset=False)
        recommendations(store, user, 10, None, set(), ruleset=stored)
    clock = time.perf_counter
    for _ in range(loops):  # interleaved per user, so the machine's other load hits both alike
        spent = {"no rules": 0.0, "5 rules": 0.0}
        for user in users:
            for name, ruleset in (("no rules", False), ("5 rules", stored)):
                start = clock()
                recommendations(store, user, 10, None, {"I000001", "I000002"}, ruleset=ruleset)
                spent[name] += clock() - start
        for name, total in spent.items():
            out[name].append(total / len(users) * 1e6)
    return {k: statistics.median(v) for k, v in out.items()}


def main(rounds: int = 3, seconds: int = 10, connections: int = 16, users: int = 20000, items: int = 2000) -> int:
    if not shutil.which("wrk") or not shutil.which("redis-server"):
        print("needs wrk and redis-server (make setup; apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-bench-rules-"))
    servers: list = []
    try:
        url, result = published_shop(tmp, users, items, servers)
        script, sample = wrk_script(tmp, result)
        rules = five_rules(result)
        server = gunicorn("recsvc.wsgi:app", service_env(url, tmp / "prom", RECSVC_API_KEYS=KEY))
        servers.append(server)
        runs: dict[str, list[dict]] = {"no rules": [], "5 rules": []}
        for _ in range(rounds):
            for name, body in (("no rules", {"rules": []}), ("5 rules", rules)):
                resp = requests.put(server.base + "/v1/rules", json=body, headers={"X-API-Key": KEY}, timeout=10)
                resp.raise_for_status()
                for _ in range(3):
                    _wrk(server.base, script, 2, connections)
                runs[name].append(
                    _wrk(server.base, script, seconds, connections, [server.proc.pid, servers[0].proc.pid])
                )
        med = {
            n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            for n, rs in runs.items()
        }
        base = med["no rules"]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores (shared); gunicorn 2 workers x 4 threads; "
            f"wrk -t2 -c{connections} -d{seconds}s x {rounds} rounds, rules off and on alternating; {users} users "
            f"({len(sample)} asked for), {items} items"
        )
        print(
            "| rules | median req/s | median p50 ms | median p99 ms | CPU us/request | latency ratio (p50) | CPU ratio |"
        )
        print("|---|---|---|---|---|---|---|")
        for n, m in med.items():
            print(
                f"| {n} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_us']:.0f} | "
                f"{m['p50_ms'] / base['p50_ms']:.2f} | {m['cpu_us'] / base['cpu_us']:.2f} |"
            )
        print("per round req/s:", {n: [round(r["rps"]) for r in rs] for n, rs in runs.items()})
        print("per round errors:", {n: [r["errors"] for r in rs] for n, rs in runs.items()})
        inproc = _in_process(url, sample[:2000], rules)
        print(
            f"in-process recommendations(): {inproc['no rules']:.0f} us without rules, {inproc['5 rules']:.0f} us with "
            f"5 rules (ratio {inproc['5 rules'] / inproc['no rules']:.2f})"
        )
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
