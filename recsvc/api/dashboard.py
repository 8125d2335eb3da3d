"""GET /dashboard...: read-only pages with SVG plots for marketing and operators.

Login: HTTP Basic (any user name, an API key from RECSVC_API_KEYS as password) or the X-API-Key
header. Without configured keys the dashboard is off (403). Nothing is loaded from the internet.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Response, current_app, render_template_string, request
from prometheus_client.parser import text_string_to_metric_families

from recsvc import figures as figures_of
from recsvc import metrics, plots
from recsvc.api.experiments import build_report as experiment_report
from recsvc.api.experiments import running_all
from recsvc.api.offers import build_report as campaign_report
from recsvc.auth import key_is_valid
from recsvc.store import NoActiveVersion, RedisDown

bp = Blueprint("dashboard", __name__)
PAGES = [
    ("overview", "Model and service"),
    ("segments", "Segments and CLV"),
    ("campaigns", "Campaigns"),
    ("experiments", "Experiments"),
]
LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>recsvc - {{ title }}</title><link rel="icon" href="data:,">
<style>body{font-family:system-ui,sans-serif;margin:0;color:#1a202c}nav{background:#2d3748;padding:10px 16px}
nav a{color:#e2e8f0;margin-right:18px;text-decoration:none}nav a.on{color:#fff;font-weight:bold}
main{padding:16px 24px;max-width:1100px}figure{margin:12px 0 24px}figcaption{font-size:13px;color:#4a5568}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #cbd5e0;padding:3px 8px;text-align:right}
.note{color:#718096;font-size:13px}</style></head><body><nav>
{% for slug, name in pages %}<a href="/dashboard/{{ slug }}" class="{{ 'on' if slug == page else '' }}">{{ name }}</a>{% endfor %}
</nav><main><h1>{{ title }}</h1>{% if version %}<p class="note">Active model version {{ version }}</p>{% endif %}
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
{% for caption, svg in figures %}<figure class="plot">{{ svg|safe }}<figcaption>{{ caption }}</figcaption></figure>{% endfor %}
{{ extra|safe }}</main></body></html>"""


def _authorized() -> bool:
    keys = current_app.config["SETTINGS"].api_keys
    if not keys:
        return False
    given = request.headers.get("X-API-Key") or (request.authorization.password if request.authorization else None)
    return bool(given) and key_is_valid(given, keys)


@bp.before_request
def _login():
    if not current_app.config["SETTINGS"].api_keys:
        return Response("dashboard disabled: no API keys configured (RECSVC_API_KEYS)", 403)
    if not _authorized():
        return Response(
            "login with any user name and an API key as password",
            401,
            {"WWW-Authenticate": 'Basic realm="recsvc dashboard"'},
        )
    return None


def _page(
    page: str, title: str, figures: list, notes: list[str] | None = None, version: str | None = None, extra: str = ""
) -> str:
    return render_template_string(
        LAYOUT, pages=PAGES, page=page, title=title, figures=figures, notes=notes or [], version=version, extra=extra
    )


def _store_or_note(fn):
    store = current_app.extensions["store"]
    try:
        return fn(store), None
    except RedisDown:
        return None, "Redis is unreachable: the figures need it."
    except NoActiveVersion:
        return None, "No model version has been published yet."


@bp.get("/dashboard")
@bp.get("/dashboard/overview")
def overview():
    def load(store):
        return store.active_version(), store.version_history()

    data, note = _store_or_note(load)
    figures = []
    version = None
    if data:
        version, history = data
        figures += figures_of.metric_history(history)
        active = next((h for h in history if h["version"] == version), {})
        figures += figures_of.model_metrics(active.get("metrics") or {})
    health = service_health()
    figures.append(
        (
            "Requests per endpoint since the workers started",
            plots.bars(list(health["requests"]), list(health["requests"].values()), "Requests", "count"),
        )
    )
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in health["summary"].items())
    return _page(
        "overview",
        "Model and service",
        figures,
        [note] if note else [],
        version,
        f"<h2>Service health</h2><table>{rows}</table>",
    )


def service_health() -> dict:
    """Request rate, p50/p99 latency (from histogram buckets) and fallbacks, from /metrics."""
    payload, _ = metrics.render()
    requests_by_endpoint: dict[str, float] = {}
    buckets: dict[float, float] = {}
    fallbacks = 0.0
    for family in text_string_to_metric_families(payload.decode()):
        for s in family.samples:
            if s.name == "recsvc_request_seconds_count" and s.labels.get("endpoint", "").startswith("/v1/"):
                requests_by_endpoint[s.labels["endpoint"]] = requests_by_endpoint.get(s.labels["endpoint"], 0) + s.value
            elif s.name == "recsvc_request_seconds_bucket" and s.labels.get("endpoint", "").startswith("/v1/"):
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0) + s.value
            elif s.name == "recsvc_fallback_total":
                fallbacks += s.value
    total = sum(requests_by_endpoint.values())

    def quantile(q: float) -> str:
        for le in sorted(buckets):
            if total and buckets[le] >= q * total:
                return "> 2.5 s" if math.isinf(le) else f"<= {le * 1000:g} ms"
        return "n/a"

    uptime = max(1.0, time.time() - current_app.config["STARTED_AT"])
    return {
        "requests": dict(sorted(requests_by_endpoint.items())) or {"none yet": 0},
        "summary": {
            "requests (API)": int(total),
            "request rate (per s, this worker's lifetime)": round(total / uptime, 2),
            "p50 latency": quantile(0.5),
            "p99 latency": quantile(0.99),
            "fallback answers": int(fallbacks),
        },
    }


@bp.get("/dashboard/segments")
def segments():
    def load(store):
        v = store.active_version()
        return v, store.segments(v), store.distributions(v)

    data, note = _store_or_note(load)
    figures = []
    version = None
    if data:
        version, segs, dist = data
        figures = figures_of.segments(segs, dist)
    return _page("segments", "Segments and CLV", figures, [note] if note else [], version)


@bp.get("/dashboard/campaigns")
def campaigns():
    def load(store):
        v = store.active_version()
        items = store.campaigns(v)
        return v, items, [campaign_report(store, v, c) for c in items]

    data, note = _store_or_note(load)
    figures = []
    version = None
    notes = [note] if note else []
    if data:
        version, items, reports = data
        if not items:
            notes.append("No campaigns in this version (train with --offers).")
        else:
            figures = figures_of.campaigns(items, reports)
    return _page("campaigns", "Campaigns", figures, notes, version)


@bp.get("/dashboard/experiments")
def experiments():
    def load(store):
        return [(e, experiment_report(store, e)) for e in running_all(store)]

    data, note = _store_or_note(load)
    figures = []
    notes = [note] if note else []
    if data is not None and not data:
        notes.append("No experiment is running.")
    for exp, rep in data or []:
        variants = rep["variants"]
        figures += figures_of.experiment(exp["experiment_id"], variants)
        verdicts = "; ".join(f"{v['variant']}: {v.get('verdict', 'control')}" for v in variants)
        notes.append(f"{exp['experiment_id']} ({exp['primary_metric']}): {verdicts}")
    return _page("experiments", "Experiments", figures, notes)
