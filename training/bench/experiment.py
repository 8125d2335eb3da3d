"""End-to-end check of the experiment report against a known truth, through gunicorn and Redis.

Publishes a synthetic shop with two experiments whose variants both serve the current model:
`ab` (the simulator gives `treatment` a 10% CTR lift) and `aa` (no lift). The simulator then sends
a little more than the planned sample size for 80% power (3,124 users of 10 impressions per
variant), so that both variants pass the fixed horizon, and the reports are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests

from training.bench.load import _stop, gunicorn, published_shop
from training.experiments import parse
from training.publish import publish_result
from training.simulate import simulate

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
    procs: list[subprocess.Popen] = []
    out = {}
    try:
        url, result = published_shop(tmp, 5000, 800, procs)
        for exp_id, lift in (("ab", 0.10), ("aa", 0.0)):
            publish_result(result, url, experiments=parse({"experiments": [EXPERIMENT | {"experiment_id": exp_id}]}))
            env = dict(
                os.environ,
                REDIS_URL=url,
                PROMETHEUS_MULTIPROC_DIR=str(tmp / f"prom-{exp_id}"),
                RECSVC_LOG_LEVEL="WARNING",
            )
            os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
            proc, base = gunicorn("recsvc.wsgi:app", env)
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
            _stop(proc)
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
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
