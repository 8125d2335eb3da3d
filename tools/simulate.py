"""`python -m tools simulate`: replay synthetic users against a running service with a known effect.

Each simulated user asks for recommendations, sees them (impression events carrying the
recommendation id), clicks each shown item with probability `ctr` (times 1 + `lift` in the treatment
variant) and buys a clicked item with probability `buy`. The experiment report is then fetched and
compared with the truth. `--monte-carlo R` instead repeats the same draws R times offline through
the service's statistics code, to measure power (with the lift) and the false-positive rate (A/A).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np

from reporting import stats

Getter = Callable[[str], dict]
Poster = Callable[[str, dict], int]


def simulate(
    get: Getter,
    post: Poster,
    experiment_id: str,
    treatment: str,
    users: int,
    lift: float,
    ctr: float,
    buy: float,
    seed: int,
    prefix: str = "sim",
) -> dict:
    """Drive `users` synthetic users through the service; returns what was sent per variant."""
    rng = np.random.default_rng(seed)
    sent: dict[str, dict[str, int]] = {}
    for k in range(users):
        user = f"{prefix}-{seed}-{k}"
        body = get(f"/v1/users/{user}/recommendations?n=10")
        variant, rid = body.get("variant"), body["recommendation_id"]
        if body.get("experiment_id") != experiment_id:
            raise RuntimeError(f"experiment '{experiment_id}' is not running on this service")
        p = ctr * (1 + lift) if variant == treatment else ctr
        events = []
        tally = sent.setdefault(variant, {"users": 0, "impressions": 0, "clicks": 0, "purchases": 0})
        tally["users"] += 1
        for item in body["items"]:
            events.append(
                {"user_id": user, "item_id": item["item_id"], "event": "impression", "recommendation_id": rid}
            )
            tally["impressions"] += 1
            if rng.random() < p:
                events.append({"user_id": user, "item_id": item["item_id"], "event": "click", "recommendation_id": rid})
                tally["clicks"] += 1
                if rng.random() < buy:
                    events.append(
                        {
                            "user_id": user,
                            "item_id": item["item_id"],
                            "event": "purchase",
                            "price": 20.0,
                            "recommendation_id": rid,
                        }
                    )
                    tally["purchases"] += 1
        status = post("/v1/events", {"events": events})
        if status != 202:
            raise RuntimeError(f"events rejected with status {status}")
    return sent


def monte_carlo(
    runs: int, users_per_variant: int, impressions_per_user: int, ctr: float, lift: float, seed: int
) -> dict:
    """Share of runs in which the CTR z-test is significant at 95% (power with lift, FPR without)."""
    rng = np.random.default_rng(seed)
    n = users_per_variant * impressions_per_user
    hits = 0
    for _ in range(runs):
        a = int(rng.binomial(n, ctr))
        b = int(rng.binomial(n, ctr * (1 + lift)))
        if stats.two_proportion_test(b, n, a, n)["p_value"] < 0.05:
            hits += 1
    planned = stats.sample_size_two_proportions(ctr, ctr * (1 + lift)) if lift else None
    return {
        "runs": runs,
        "impressions_per_variant": n,
        "significant_share": hits / runs,
        "planned_impressions_for_80pct_power": planned,
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("simulate", help="replay synthetic users with a known effect against a service")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="X-API-Key for POST /v1/events when keys are configured")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--treatment", default="treatment", help="the variant that gets the lift")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--lift", type=float, default=0.10, help="relative CTR lift of the treatment (0: A/A)")
    parser.add_argument("--ctr", type=float, default=0.05)
    parser.add_argument("--buy", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--monte-carlo", type=int, default=0, metavar="RUNS", help="offline: repeat RUNS times")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.monte_carlo:
        out = monte_carlo(args.monte_carlo, args.users // 2, 10, args.ctr, args.lift, args.seed)
        print(json.dumps(out, indent=2))
        return 0
    import requests

    session = requests.Session()
    headers = {"X-API-Key": args.api_key} if args.api_key else {}

    def get(path: str) -> dict:
        r = session.get(args.url + path, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(path: str, body: dict) -> int:
        return session.post(args.url + path, json=body, headers=headers, timeout=10).status_code

    sent = simulate(get, post, args.experiment, args.treatment, args.users, args.lift, args.ctr, args.buy, args.seed)
    report = get(f"/v1/experiments/{args.experiment}/report")
    print(json.dumps({"sent": sent, "report": report}, indent=2))
    return 0
