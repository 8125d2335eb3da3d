"""The run report: JSON for machines, Markdown for people."""

from __future__ import annotations

import json
from pathlib import Path

METRIC_COLUMNS = ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10")


def _fmt(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def to_markdown(report: dict) -> str:
    lines = ["# recsvc training report", ""]
    if "model_version" in report:
        lines += [f"Model version: `{report['model_version']}`", ""]
    lines += ["## Inputs", "", "| input | rows read | rows kept | skipped |", "|---|---|---|---|"]
    for name, info in report.get("inputs", {}).items():
        skipped = ", ".join(f"{k}: {v}" for k, v in info["skipped"].items()) or "none"
        lines.append(f"| {name} | {info['rows_read']} | {info['rows_kept']} | {skipped} |")
    unknown = report.get("items_not_in_catalog", {})
    if unknown.get("count"):
        lines += [
            "",
            f"{unknown['count']} items appear in events but not in the catalog (kept for CF, never shown): "
            + ", ".join(unknown["examples"][:10]),
        ]
    ev = report.get("evaluation")
    if ev:
        lines += [
            "",
            "## Offline evaluation",
            "",
            f"Split: {ev['split']}. Users evaluated: {ev['users_evaluated']}.",
            "",
        ]
        lines += ["| model | " + " | ".join(METRIC_COLUMNS) + " | fit s |", "|---" * (len(METRIC_COLUMNS) + 2) + "|"]
        for name, m in ev["models"].items():
            lines.append(
                f"| {name} | " + " | ".join(_fmt(m[c]) for c in METRIC_COLUMNS) + f" | {m['fit_seconds']:.2f} |"
            )
    tuning = report.get("tuning")
    if tuning:
        lines += ["", "## Tuning (validation split cut from the training part)", ""]
        lines += [f"- blend weights: {tuning['blend_weights']}, history shrink {tuning['history_shrink']}"]
        lines += [f"- {k}: NDCG@10 {_fmt(v)}" for k, v in tuning["validation_ndcg@10"].items()]
    customers = report.get("customers")
    if customers:
        lines += ["", "## Customers", "", f"As of {customers['as_of']}."]
        lines += [f"- warning: {w}" for w in customers.get("warnings", [])]
        clv = customers.get("clv")
        if clv:
            lines += [f"- BG/NBD ({clv['time_unit']}s): " + ", ".join(f"{k} {v:.4g}" for k, v in clv["bgnbd"].items())]
            if clv.get("gamma_gamma"):
                lines += ["- Gamma-Gamma: " + ", ".join(f"{k} {v:.4g}" for k, v in clv["gamma_gamma"].items())]
        lines += ["", "| segment | size | mean CLV (365 d) |", "|---|---|---|"]
        lines += [f"| {s['id']} | {s['size']} | {s['mean_clv']} |" for s in customers.get("segments", [])]
        clusters = customers.get("clusters")
        if clusters:
            lines += [
                "",
                f"Clusters: k = {clusters['k']} chosen by silhouette "
                + ", ".join(f"{k}: {v:.3f}" for k, v in clusters["silhouette"].items()),
                "",
            ]
            lines += [f"- {p['name']} ({p['size']}): {p['centroid']}" for p in clusters["profiles"]]
    offers = report.get("offers")
    if offers:
        lines += [
            "",
            "## Offers",
            "",
            f"Holdout {offers['holdout_pct']}% of each audience; at most "
            f"{offers['max_offers_per_user']} offers per user. Allocation: {offers['optimality']}.",
            "",
            "| offer | status | eligible | audience | holdout | expected cost | budget | expected value | per segment |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in offers["campaigns"]:
            lines.append(
                f"| {c['offer_id']} | {c['status']} | {c['eligible_users']} | {c['audience_size']} | "
                f"{c['holdout_size']} | {c['expected_cost']:.2f} | {c['budget']:.2f} | {c['expected_value']:.2f} | "
                f"{c.get('per_segment', {})} |"
            )
    for section in report.get("extra_sections", []):
        lines += ["", section]
    timings = report.get("timings_seconds", {})
    if timings:
        lines += ["", "## Timings", ""] + [f"- {k}: {v:.2f} s" for k, v in timings.items()]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path) -> dict[str, str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(to_markdown(report), encoding="utf-8")
    return {"json": str(out / "report.json"), "markdown": str(out / "report.md")}
