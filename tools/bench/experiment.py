"""End-to-end check of the experiment report against a known truth, through gunicorn and Redis.

Publishes a synthetic shop with two experiments whose variants both serve the current model:
`ab` (the simulator gives `treatment` a 10% CTR lift) and `aa` (no lift). The simulator then sends
a little more than the planned sample size for 80% power (3,124 users of 10 impressions per
variant), so that both variants pass the fixed horizon, and the reports are printed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import requests

from tools.bench.load import gunicorn, published_shop
from tools.harness import service_env
from tools.simulate import simulate
from training.publish.experiments_file import parse
from training.publish.redis_publisher import publish_result

EXPERIMENT = {
    "variants": [
        {"name": "control", "model": "current", "traffic": 50},
        {"name": "treatment", "model": "current", "traffic": 50},
    ],
    "start": "2020-01-01",
    "end": "2100-01-01",
    "primary_metric": "ctr",
    "min_users_per_variant": 3124,
}


def main(users: int = 6800) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="recsvc-exp-"))
    servers: list = []
    out = {}
    try:
        url, result = published_shop(tmp, 5000, 800, servers)
        for exp_id, lift in (("ab", 0.10), ("aa", 0.0)):
            publish_result(result, url, experiments=parse({"experiments": [EXPERIMENT | {"experiment_id": exp_id}]}))
            server = gunicorn("recsvc.wsgi:app", service_env(url, tmp / f"prom-{exp_id}"))
            base = server.base
            session = requests.Session()
            sent = simulate(
                lambda p, s=session, u=base: s.get(u + p, timeout=10).json(),
                lambda p, b, s=session, u=base: s.post(u + p, json=b, timeout=10).status_code,
                exp_id,
                "treatment",
                users,
                lift,
                0.05,
                0.3,
                seed=7,
                prefix=exp_id,
            )
            report = session.get(f"{base}/v1/experiments/{exp_id}/report", timeout=10).json()
            server.stop()
            treat = next(v for v in report["variants"] if v["variant"] == "treatment")
            out[exp_id] = {
                "true_lift": lift,
                "sent": sent,
                "users": {v["variant"]: v["users"] for v in report["variants"]},
                "ctr": {v["variant"]: round(v["ctr"], 5) for v in report["variants"]},
                "ctr_difference": treat["vs_control"]["ctr"],
                "verdict": treat["verdict"],
                "srm": report["sample_ratio_mismatch"],
            }
        print(json.dumps(out, indent=2))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
