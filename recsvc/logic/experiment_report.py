"""The experiment report: per-variant metrics and comparisons to control (API and dashboard).

Verdicts follow a fixed-horizon design to guard against peeking: no verdict is declared before
every variant has reached `min_users_per_variant` exposed users (or the experiment has ended);
then a variant is a `winner` or `loser` on the primary metric when its difference to control is
significant at 95%, else `no difference yet`. Sample-ratio mismatch (chi-square of exposed users
against the planned split, p < 0.001) is reported, and no verdict is given while it holds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from contract import event_rules
from contract.records import Experiment
from recsvc.store.reads import PublishedReads
from reporting import stats


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
    amounts = [event_rules.bounded(r, event_rules.MAX_USER_REVENUE) for r in c["revenue"]]
    mean, var = stats.mean_var(math.fsum(amounts), math.fsum(r * r for r in amounts), n)
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


def build_report(reads: PublishedReads, exp: Experiment) -> dict:
    """Per-variant metrics and comparisons to control (also drawn by the dashboard)."""
    experiment_id = exp.experiment_id
    names = [v.name for v in exp.variants]
    counts = reads.experiment_counts(experiment_id, names)
    rejected = counts.pop("_rejected")
    control = counts[exp.control]
    srm = stats.sample_ratio_mismatch([counts[n]["users"] for n in names], [v.traffic for v in exp.variants])
    ended = exp.status(datetime.now(UTC).isoformat()) == "ended"
    horizon_reached = all(counts[n]["users"] >= exp.min_users_per_variant for n in names) or ended
    variants = []
    for v in exp.variants:
        c = counts[v.name]
        ctr = c["clicks"] / c["impressions"] if c["impressions"] else 0.0
        conv = c["conversions"] / c["users"] if c["users"] else 0.0
        rpu, rvar, _ = _metric("revenue_per_user", c)
        half = stats.Z95 * math.sqrt(rvar / c["users"]) if c["users"] > 1 else 0.0
        entry = {
            "variant": v.name,
            "version": v.version,
            "traffic": v.traffic,
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
        if v.name != exp.control:
            entry["vs_control"] = {m: _compare(m, c, control) for m in ("ctr", "conversion", "revenue_per_user")}
            primary = entry["vs_control"][exp.primary_metric]
            if srm["mismatch"]:
                entry["verdict"] = "no verdict: sample ratio mismatch"
            elif not horizon_reached:
                entry["verdict"] = "no difference yet"
                entry["note"] = f"collecting: verdicts at {exp.min_users_per_variant} users per variant"
            elif primary["p_value"] is not None and primary["p_value"] < 0.05:
                entry["verdict"] = "winner" if primary["difference"] > 0 else "loser"
            else:
                entry["verdict"] = "no difference yet"
        variants.append(entry)
    return {
        "experiment_id": experiment_id,
        "primary_metric": exp.primary_metric,
        "control": exp.control,
        "start": exp.start,
        "end": exp.end,
        "min_users_per_variant": exp.min_users_per_variant,
        "horizon_reached": horizon_reached,
        "sample_ratio_mismatch": srm,
        "rejected_attributions": rejected,
        "variants": variants,
        "method": "fixed horizon; two-proportion z-test (CTR per impression, conversion per user); "
        "Welch's t-test (revenue per user); 95% two-sided",
    }
