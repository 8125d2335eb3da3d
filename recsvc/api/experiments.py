"""Experiments: variant assignment for recommendation responses, assignments read back, and the report.

Verdicts follow a fixed-horizon design to guard against peeking: no verdict is declared before
every variant has reached `min_users_per_variant` exposed users (or the experiment has ended);
then a variant is a `winner` or `loser` on the primary metric when its difference to control is
significant at 95%, else `no difference yet`. Sample-ratio mismatch (chi-square of exposed users
against the planned split, p < 0.001) is reported, and no verdict is given while it holds.
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify

from recsvc import stats
from recsvc.api.params import path_id
from recsvc.errors import NotFound
from recsvc.experiments import RecommendationId, assign, make_id
from recsvc.store import Store

bp = Blueprint("experiments", __name__)


def running_all(store: Store) -> list[dict]:
    """The experiments running now, in configuration order."""
    experiments = store.experiments()
    if not experiments:
        return []  # no clock read on the hot path of a shop without experiments
    now = datetime.now(UTC).isoformat()
    return [e for e in experiments if e["start"] <= now <= e["end"]]


def running(store: Store) -> dict | None:
    """The experiment that currently decides recommendations (the first one running)."""
    found = running_all(store)
    return found[0] if found else None


def variant_for(store: Store, user_id: str) -> tuple[dict | None, dict | None]:
    exp = running(store)
    if exp is None:
        return None, None
    name = assign(exp["experiment_id"], user_id, exp["variants"])
    return exp, next(v for v in exp["variants"] if v["name"] == name)


def recommendation_id(store: Store, user_id: str, exp: dict | None, variant: dict | None) -> str:
    rid = RecommendationId(
        exp["experiment_id"] if exp else "", variant["name"] if variant else "", user_id, int(time.time())
    )
    # The nonce only keeps ids of the same second apart (the HMAC makes them unforgeable): the
    # process's PRNG (reseeded in every forked worker) instead of os.urandom, whose syscall gives up
    # the GIL and, with busy sibling threads, waits up to a switch interval to get it back.
    return make_id(store.secret(), rid, random.getrandbits(32))


def _find(store: Store, experiment_id: str) -> dict:
    path_id(experiment_id, "experiment_id")
    experiments = store.experiments()
    for e in experiments:
        if e["experiment_id"] == experiment_id:
            return e
    raise NotFound(f"unknown experiment '{experiment_id}'", code="unknown_experiment")


@bp.get("/v1/experiments")
def list_experiments():
    store = current_app.extensions["store"]
    experiments = store.experiments()
    now = datetime.now(UTC).isoformat()
    return jsonify(
        {
            "experiments": [
                e
                | {"status": "running" if e["start"] <= now <= e["end"] else "ended" if e["end"] < now else "scheduled"}
                for e in experiments
            ]
        }
    )


@bp.get("/v1/experiments/<experiment_id>/assignments/<path:user_id>")
def assignment(experiment_id: str, user_id: str):
    path_id(user_id, "user_id")
    exp = _find(current_app.extensions["store"], experiment_id)
    return jsonify(
        {"experiment_id": experiment_id, "user_id": user_id, "variant": assign(experiment_id, user_id, exp["variants"])}
    )


def _metric(name: str, c: dict) -> tuple[float, float, int]:
    """(value, variance of the unit, units) of a metric for one variant."""
    if name == "ctr":
        n = c["impressions"]
        p = c["clicks"] / n if n else 0.0
        return p, p * (1 - p), n
    n = c["users"]
    if name == "conversion":
        p = c["conversions"] / n if n else 0.0
        return p, p * (1 - p), n
    mean, var = stats.mean_var(sum(c["revenue"]), sum(r * r for r in c["revenue"]), n)
    return mean, var, n


def _compare(name: str, b: dict, a: dict) -> dict:
    """Variant b against control a on one metric: difference, 95% interval, p-value, sample size."""
    if name == "ctr":
        test = stats.two_proportion_test(b["clicks"], b["impressions"], a["clicks"], a["impressions"])
        pa, pb = _metric(name, a)[0], _metric(name, b)[0]
        needed = stats.sample_size_two_proportions(pa, pb)
    elif name == "conversion":
        test = stats.two_proportion_test(b["conversions"], b["users"], a["conversions"], a["users"])
        pa, pb = _metric(name, a)[0], _metric(name, b)[0]
        needed = stats.sample_size_two_proportions(pa, pb)
    else:
        ma, va, na = _metric(name, a)
        mb, vb, nb = _metric(name, b)
        test = stats.welch_test(mb, vb, nb, ma, va, na)
        needed = stats.sample_size_means(mb - ma, math.sqrt(va), math.sqrt(vb)) if test["difference"] else None
    return {k: test.get(k) for k in ("difference", "ci95", "p_value")} | {"sample_size_needed_per_group": needed}


@bp.get("/v1/experiments/<experiment_id>/report")
def report(experiment_id: str):
    store = current_app.extensions["store"]
    exp = _find(store, experiment_id)
    return jsonify(build_report(store, exp))


def build_report(store: Store, exp: dict) -> dict:
    """Per-variant metrics and comparisons to control (also drawn by the dashboard)."""
    experiment_id = exp["experiment_id"]
    names = [v["name"] for v in exp["variants"]]
    counts = store.experiment_counts(experiment_id, names)
    rejected = counts.pop("_rejected")
    control = counts[exp["control"]]
    srm = stats.sample_ratio_mismatch([counts[n]["users"] for n in names], [v["traffic"] for v in exp["variants"]])
    now = datetime.now(UTC).isoformat()
    horizon_reached = all(counts[n]["users"] >= exp["min_users_per_variant"] for n in names) or exp["end"] < now
    variants = []
    for v in exp["variants"]:
        c = counts[v["name"]]
        ctr = c["clicks"] / c["impressions"] if c["impressions"] else 0.0
        conv = c["conversions"] / c["users"] if c["users"] else 0.0
        rpu, rvar, _ = _metric("revenue_per_user", c)
        half = stats.Z95 * math.sqrt(rvar / c["users"]) if c["users"] > 1 else 0.0
        entry = {
            "variant": v["name"],
            "version": v.get("version"),
            "traffic": v["traffic"],
            "users": c["users"],
            "impressions": c["impressions"],
            "clicks": c["clicks"],
            "ctr": ctr,
            "ctr_ci95": list(stats.proportion_ci(c["clicks"], c["impressions"])),
            "conversions": c["conversions"],
            "conversion_rate": conv,
            "conversion_ci95": list(stats.proportion_ci(c["conversions"], c["users"])),
            "revenue_per_user": rpu,
            "revenue_per_user_ci95": [rpu - half, rpu + half],
        }
        if v["name"] != exp["control"]:
            entry["vs_control"] = {m: _compare(m, c, control) for m in ("ctr", "conversion", "revenue_per_user")}
            primary = entry["vs_control"][exp["primary_metric"]]
            if srm["mismatch"]:
                entry["verdict"] = "no verdict: sample ratio mismatch"
            elif not horizon_reached:
                entry["verdict"] = "no difference yet"
                entry["note"] = f"collecting: verdicts at {exp['min_users_per_variant']} users per variant"
            elif primary["p_value"] is not None and primary["p_value"] < 0.05:
                entry["verdict"] = "winner" if primary["difference"] > 0 else "loser"
            else:
                entry["verdict"] = "no difference yet"
        variants.append(entry)
    return {
        "experiment_id": experiment_id,
        "primary_metric": exp["primary_metric"],
        "control": exp["control"],
        "start": exp["start"],
        "end": exp["end"],
        "min_users_per_variant": exp["min_users_per_variant"],
        "horizon_reached": horizon_reached,
        "sample_ratio_mismatch": srm,
        "rejected_attributions": rejected,
        "variants": variants,
        "method": "fixed horizon; two-proportion z-test (CTR per impression, conversion per user); "
        "Welch's t-test (revenue per user); 95% two-sided",
    }
