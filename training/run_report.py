"""The run report: JSON for machines, Markdown and an HTML page with figures for people."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import markdown

from training.evaluation.protocol import EvaluationReport, TuningReport

METRIC_COLUMNS = ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10")


@dataclass
class RunReport:
    """What a training run did, section by section; `to_dict` is report.json."""

    config: dict
    inputs: dict[str, dict]  # events, items, users: rows read, kept, skipped per reason
    items_not_in_catalog: dict
    tuning: TuningReport | None = None
    evaluation: EvaluationReport | None = None
    customers: dict | None = None
    offers: dict | None = None
    ranking: dict | None = None  # the ranking stage (training/ranking/stage.py report)
    shop_evaluation: dict | None = None  # all / new items for the stage, its sources and the peers
    merchandising: dict | None = None  # bought together, rules, margin trade-off (training/merchandising)
    output: dict = field(default_factory=dict)
    timings_seconds: dict[str, float] = field(default_factory=dict)
    model_version: str | None = None
    quality_gate: dict | None = None  # training.publish.quality_gate's verdict, when the run published
    engine: dict | None = None  # --engine spark: where it ran, Spark stage timings, JVM memory (training/spark)

    def to_dict(self) -> dict:
        out: dict = {
            "config": self.config,
            "inputs": self.inputs,
            "items_not_in_catalog": self.items_not_in_catalog,
        }
        if self.tuning is not None:
            out["tuning"] = self.tuning.to_dict()
        if self.evaluation is not None:
            out["evaluation"] = self.evaluation.to_dict()
        for name in ("customers", "offers", "merchandising", "ranking", "shop_evaluation"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["timings_seconds"] = self.timings_seconds
        out["output"] = self.output
        if self.model_version is not None:
            out["model_version"] = self.model_version
        if self.quality_gate is not None:
            out["quality_gate"] = self.quality_gate
        if self.engine is not None:
            out["engine"] = self.engine
        return out

    @property
    def model_metrics(self) -> dict[str, dict]:
        """Offline metrics per model (empty without an evaluation): see `models_of`."""
        return models_of(self.evaluation.models if self.evaluation is not None else None, self.shop_evaluation)


def models_of(hybrid_models: dict | None, shop_evaluation: dict | None) -> dict[str, dict]:
    """Offline metrics per model: the hybrid's evaluation (each model and the blend), and from the shop
    protocol's table `ranking` (the served list over all test items), `ranking_discover` (never-bought
    items, over items new to the customer), each candidate source and each peer (over all test items)."""
    models = dict(hybrid_models or {})
    lists = (shop_evaluation or {}).get("lists", {})
    if "ranking: main list" in lists:
        models["ranking"] = lists["ranking: main list"]["all"]
        models["ranking_discover"] = lists["ranking: discover (never bought)"]["new"]
    for name, row in lists.items():
        if not name.startswith("ranking:"):
            models.setdefault(name.removeprefix("source: "), row["all"])
    return models


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
    if report.get("ranking") or report.get("shop_evaluation"):
        from training.ranking.report import markdown_lines as ranking_lines

        lines += ranking_lines(report.get("ranking"), report.get("shop_evaluation"))
    if report.get("merchandising"):
        from training.merchandising.report import markdown_lines

        lines += markdown_lines(report["merchandising"])
    for section in report.get("extra_sections", []):
        lines += ["", section]
    timings = report.get("timings_seconds", {})
    if timings:
        lines += ["", "## Timings", ""] + [f"- {k}: {v:.2f} s" for k, v in timings.items()]
    return "\n".join(lines) + "\n"


HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1a202c}main{display:flex;gap:24px;padding:16px 24px}"
    "section{flex:1;min-width:0;overflow-x:auto}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #cbd5e0;padding:3px 8px}figure{margin:0 0 20px}figure svg{max-width:100%;height:auto}"
    "figcaption{font-size:13px;color:#4a5568}"
)


def figures(report: dict) -> list[tuple[str, str]]:
    """The dashboard's figures for what this run produced: metrics per model, segments and CLV, campaigns."""
    from reporting import figures as fig  # matplotlib is only needed here

    out = fig.model_metrics(models_of((report.get("evaluation") or {}).get("models"), report.get("shop_evaluation")))
    customers = report.get("customers") or {}
    out += fig.segments(customers.get("segments", []), customers.get("distributions", {}))
    out += fig.campaigns((report.get("offers") or {}).get("campaigns", []))
    return out


def to_html(report: dict, md_text: str | None = None) -> str:
    """A self-contained page: the Markdown report rendered next to the figures (inline SVG, nothing fetched)."""
    body = markdown.markdown(md_text if md_text is not None else to_markdown(report), extensions=["tables"])
    plots = "".join(
        f'<figure class="plot">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'
        for caption, svg in figures(report)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>recsvc training report</title><link rel="icon" href="data:,">'
        f"<style>{HTML_STYLE}</style></head><body><main><section>{body}</section>"
        f"<section><h2>Figures</h2>{plots or '<p>No figures: nothing was evaluated.</p>'}</section>"
        "</main></body></html>\n"
    )


def write_report(run: RunReport | dict, out_dir: str | Path) -> dict[str, str]:
    """report.json, report.md and report.html in `out_dir`; returns their paths."""
    report = run.to_dict() if isinstance(run, RunReport) else run
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md_text = to_markdown(report)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(md_text, encoding="utf-8")
    (out / "report.html").write_text(to_html(report, md_text), encoding="utf-8")
    return {"json": str(out / "report.json"), "markdown": str(out / "report.md"), "html": str(out / "report.html")}
