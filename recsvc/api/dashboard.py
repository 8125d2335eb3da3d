"""GET /dashboard...: read-only pages with SVG plots for marketing and operators.

Login: HTTP Basic (any user name, an API key from RECSVC_API_KEYS as password) or the X-API-Key
header. Without configured keys the dashboard is off (403). Nothing is loaded from the internet.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template_string, request
from markupsafe import escape

from contract.records import to_json_ready
from recsvc.auth import key_is_valid
from recsvc.extensions import get_settings, get_store
from recsvc.logic.assignment import running_all
from recsvc.logic.campaigns import build_report as campaign_report
from recsvc.logic.experiment_report import build_report as experiment_report
from recsvc.logic.privacy import counts as privacy_counts
from recsvc.logic.rules_admin import active_rules, rule_rows
from recsvc.logic.service_health import service_health
from recsvc.store import NoActiveVersion, RedisDown
from reporting import figures as figures_of
from reporting import plots

bp = Blueprint("dashboard", __name__)
PAGES = [
    ("overview", "Model and service"),
    ("segments", "Segments and CLV"),
    ("campaigns", "Campaigns"),
    ("experiments", "Experiments"),
    ("rules", "Merchandising rules"),
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
    keys = get_settings().api_keys
    if not keys:
        return False
    given = request.headers.get("X-API-Key") or (request.authorization.password if request.authorization else None)
    return bool(given) and key_is_valid(given, keys)


@bp.before_request
def _login():
    if not get_settings().api_keys:
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
    try:
        return fn(get_store()), None
    except RedisDown:
        return None, "Redis is unreachable: the figures need it."
    except NoActiveVersion:
        return None, "No model version has been published yet."


@bp.get("/dashboard")
@bp.get("/dashboard/overview")
def overview():
    def load(store):
        return store.versions.active_version(), store.reads.version_history()

    data, note = _store_or_note(load)
    figures = []
    version = None
    if data:
        version, history = data
        figures += figures_of.metric_history(history)
        active = next((h for h in history if h["version"] == version), {})
        figures += figures_of.model_metrics(active.get("metrics") or {})
    health = service_health(current_app.config["STARTED_AT"])
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
        f"<h2>Service health</h2><table>{rows}</table>" + _privacy_table(),
    )


PRIVACY_ROWS = (
    ("erased", "Customers erased"),
    ("profiling", "Opted out of profiling"),
    ("marketing", "Opted out of marketing"),
    ("statements", "Customers with a consent statement"),
    ("audit_records", "Erasure audit records"),
)


def _privacy_table() -> str:
    """Counts of erasures and opt-outs (numbers only: the dashboard never shows whom)."""
    counts, note = _store_or_note(privacy_counts)
    if counts is None:
        return f'<h2>Privacy</h2><p class="note">{note}</p>'
    rows = "".join(f'<tr><td>{label}</td><td id="privacy-{k}">{counts[k]}</td></tr>' for k, label in PRIVACY_ROWS)
    return f'<h2>Privacy</h2><table class="privacy">{rows}</table>'


@bp.get("/dashboard/segments")
def segments():
    def load(store):
        v = store.versions.active_version()
        return v, store.reads.segments(v), store.reads.distributions(v)

    data, note = _store_or_note(load)
    figures = []
    version = None
    if data:
        version, segs, dist = data
        figures = figures_of.segments(to_json_ready(segs), to_json_ready(dist))
    return _page("segments", "Segments and CLV", figures, [note] if note else [], version)


@bp.get("/dashboard/campaigns")
def campaigns():
    def load(store):
        v = store.versions.active_version()
        items = store.reads.campaigns(v)
        return v, items, [campaign_report(store.reads, v, c) for c in items]

    data, note = _store_or_note(load)
    figures = []
    version = None
    notes = [note] if note else []
    if data:
        version, items, reports = data
        if not items:
            notes.append("No campaigns in this version (train with --offers).")
        else:
            figures = figures_of.campaigns(to_json_ready(items), reports)
    return _page("campaigns", "Campaigns", figures, notes, version)


@bp.get("/dashboard/experiments")
def experiments():
    def load(store):
        return [(e, experiment_report(store.reads, e)) for e in running_all(store.versions.experiments())]

    data, note = _store_or_note(load)
    figures = []
    notes = [note] if note else []
    if data is not None and not data:
        notes.append("No experiment is running.")
    for exp, rep in data or []:
        variants = rep["variants"]
        figures += figures_of.experiment(exp.experiment_id, variants)
        verdicts = "; ".join(f"{v['variant']}: {v.get('verdict', 'control')}" for v in variants)
        notes.append(f"{exp.experiment_id} ({exp.primary_metric}): {verdicts}")
    return _page("experiments", "Experiments", figures, notes)


@bp.get("/dashboard/rules")
def rules():
    def load(store):
        stored = active_rules(store)
        merch = store.versions.merch
        return stored, len(merch.changes), sum(1 for c in merch.changes.values() if c.hidden)

    data, note = _store_or_note(load)
    notes = [note] if note else []
    extra = ""
    if data is not None:
        stored, changes, hidden = data
        notes.append(f"Live catalog: {changes} items changed since their version, {hidden} hidden.")
        if stored is None or not stored.rules:
            notes.append("No business rules are active (PUT /v1/rules or train with --rules).")
        else:
            notes.append(f"Source: {stored.source}; updated {stored.updated_at and _when(stored.updated_at)}.")
            head = "".join(f"<th>{h}</th>" for h in ("id", "type", "enabled", "lists", "audience", "what"))
            body = "".join(
                "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rule_rows(stored)
            )
            extra = f'<h2>Active rules</h2><table class="rules"><tr>{head}</tr>{body}</table>'
    return _page("rules", "Merchandising rules", [], notes, extra=extra)


def _when(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
