"""Figures built from plain report data: the same ones on the dashboard and in the training report's HTML page.

Each builder takes what the training run produced (and published) and returns a list of (caption, svg).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reporting import plots

Figure = tuple[str, str]
METRICS = ("ndcg@10", "recall@10", "precision@10", "map@10", "coverage@10")
SEGMENT_KINDS = ("rfm", "cluster", "lifecycle")
DISTRIBUTIONS = (("clv", "expected value over 365 days (top 1% clipped)"), ("p_alive", "P(alive)"))


def model_metrics(models: Mapping[str, Mapping[str, float]]) -> list[Figure]:
    """One bar chart per metric: every evaluated model side by side (time holdout)."""
    figures = []
    for metric in ("ndcg@10", "recall@10", "coverage@10"):
        names = [m for m in models if models[m].get(metric) is not None]
        if names:
            figures.append(
                (
                    f"{metric} per model on the time holdout",
                    plots.bars(names, [float(models[m][metric]) for m in names], f"{metric} per model"),
                )
            )
    return figures


def metric_history(history: Sequence[Mapping]) -> list[Figure]:
    """The served lists' offline metrics over the published versions, a line per metric: the ranking
    stage's where a version evaluated it, else the hybrid's."""
    if not history:
        return []
    names = [h["version"] for h in history]

    def served(metrics: Mapping | None) -> Mapping:
        metrics = metrics or {}
        return metrics.get("ranking") or metrics.get("hybrid") or {}

    series = {m: [served(h.get("metrics")).get(m) for h in history] for m in METRICS}
    series = {m: ys for m, ys in series.items() if any(y is not None for y in ys)}
    if not series:  # versions trained without evaluation
        return []
    return [
        (
            "Offline metrics of the served lists over the last versions (time-holdout, k = 10)",
            plots.lines(names, series, "Offline metrics by version"),
        )
    ]


def segments(segs: Sequence[Mapping], distributions: Mapping) -> list[Figure]:
    """Sizes and mean CLV per segment of each kind, and the CLV and P(alive) histograms."""
    figures = []
    for kind in SEGMENT_KINDS:
        mine = [s for s in segs if s.get("kind") == kind]
        if not mine:
            continue
        names = [s["name"] for s in mine]
        figures.append((f"{kind} segments: size", plots.bars(names, [s["size"] for s in mine], f"{kind}: customers")))
        figures.append(
            (
                f"{kind} segments: mean expected value over 365 days",
                plots.bars(names, [s["mean_clv"] or 0 for s in mine], f"{kind}: mean CLV"),
            )
        )
    for key, label in DISTRIBUTIONS:
        dist = distributions.get(key)
        if dist and sum(dist["counts"]):
            figures.append((f"Distribution of {label}", plots.histogram(dist["edges"], dist["counts"], label, label)))
    return figures


def campaigns(items: Sequence[Mapping], uplift: Sequence[Mapping] | None = None) -> list[Figure]:
    """Audience and holdout sizes, expected spend against budget and, once outcomes exist, the uplift."""
    if not items:
        return []
    ids = [c["offer_id"] for c in items]
    figures = [
        (
            "Audience (treatment) and holdout sizes per campaign",
            plots.bars(
                [f"{i} treatment" for i in ids] + [f"{i} holdout" for i in ids],
                [c["audience_size"] for c in items] + [c["holdout_size"] for c in items],
                "Audiences",
                "users",
            ),
        ),
        (
            "Expected spend (bars) against budget (black marks)",
            plots.bars(
                ids,
                [c["expected_cost"] for c in items],
                "Spend vs budget",
                reference=[c["budget"] for c in items],
                reference_label="budget",
            ),
        ),
    ]
    if uplift is not None:
        diffs = [r["uplift"]["conversion_rate"] for r in uplift]
        figures.append(
            (
                "Conversion uplift, treatment minus holdout, with 95% intervals",
                plots.bars(
                    ids,
                    [d["difference"] or 0.0 for d in diffs],
                    "Conversion uplift",
                    errors=[tuple(d["ci95"]) if d["ci95"] else (0.0, 0.0) for d in diffs],
                ),
            )
        )
    return figures


def experiment(experiment_id: str, variants: Sequence[Mapping]) -> list[Figure]:
    """CTR and conversion per variant with 95% intervals."""
    names = [v["variant"] for v in variants]
    return [
        (
            f"{experiment_id}: {label} per variant with 95% intervals",
            plots.bars(
                names,
                [v[field] for v in variants],
                f"{experiment_id}: {label}",
                errors=[tuple(v[f"{ci}_ci95"]) for v in variants],
            ),
        )
        for label, field, ci in (("CTR", "ctr", "ctr"), ("conversion", "conversion_rate", "conversion"))
    ]
