"""The active business rules: read, replace (validated whole; nothing changes on an error), dry run."""

from __future__ import annotations

import time

from contract import rules as R
from recsvc.errors import BadRequest
from recsvc.logic.recommend import recommendations
from recsvc.logic.rules import expected_margin
from recsvc.store import Store


def _parse(data: object, where: str = "") -> R.RuleSet:
    try:
        return R.parse_rules(data)
    except R.RulesError as exc:
        raise BadRequest(f"{where}{exc}", code="invalid_rules") from None


def active_rules(store: Store) -> R.StoredRules | None:
    store.versions.active_version()  # reloads the rules when they changed
    return store.versions.merch.rules


def describe(stored: R.StoredRules | None) -> dict:
    if stored is None:
        return {"rules": [], "source": None, "updated_at": None, "active": 0}
    body = R.to_json_ready(stored)
    body["active"] = len(stored.rule_set().active())
    return body


def get_rules(store: Store) -> dict:
    return describe(active_rules(store))


def put_rules(store: Store, body: object) -> dict:
    rules = _parse(body)
    now = time.time()
    store.merch.set_rules(R.encode_stored(rules, "api", now))
    return describe(R.StoredRules(rules=rules.rules, source="api", updated_at=now))


def dry_run(store: Store, user_id: str, proposed: dict, n: int, category: str | None) -> dict:
    """The user's recommendations under the active rules, under the proposed set instead, and without rules,
    each with its expected margin (contract.rules.position_weights). Nothing is stored."""
    rules = _parse(proposed, "rules: ")
    candidate = R.StoredRules(rules=rules.rules, source="dry run")
    catalog = store.versions.current()
    out = {"user_id": user_id, "model_version": catalog.version}
    for name, ruleset in (("active", None), ("proposed", candidate), ("without_rules", False)):
        answer = recommendations(store, user_id, n, category, set(), ruleset=ruleset)
        out[name] = {"items": answer["items"], "expected_margin": expected_margin(answer["items"], catalog)}
    active = active_rules(store)
    out["active"]["rules"] = len(active.rule_set().active()) if active else 0
    out["proposed"]["rules"] = len(rules.active())
    return out


def rule_rows(stored: R.StoredRules) -> list[tuple]:
    """(id, type, enabled, lists, audience, what it does) per rule, for the dashboard."""
    rows = []
    for rule in stored.rules:
        if rule.type in ("boost", "bury", "promote"):
            what = f"{_match(rule.match)}, weight {rule.weight:g}"
            if rule.type == "promote":
                what += f", at most {rule.max_share:g}% of a list"
        elif rule.type == "exclude":
            what = _match(rule.match)
        elif rule.type == "pin":
            what = f"{rule.item} at position {rule.position}"
        elif rule.type == "diversity":
            what = f"at most {rule.max_per_category} per category in the top {rule.top_k}"
        else:
            what = f"relevance + {rule.weight:g} x normalised margin"
        audience = ", ".join(sorted(rule.audience())) or "everyone"
        rows.append(
            (rule.id, rule.type, "yes" if rule.enabled else "no", ", ".join(rule.lists) or "all", audience, what)
        )
    return rows


def _match(m: R.Match) -> str:
    parts = []
    for name in ("items", "categories", "brands", "tags"):
        values = getattr(m, name)
        if values:
            shown = ", ".join(values[:5]) + (f" (+{len(values) - 5})" if len(values) > 5 else "")
            parts.append(f"{name} {shown}")
    for name in ("price", "margin"):
        r = getattr(m, name)
        if r is not None:
            parts.append(f"{name} {r.min if r.min is not None else ''}..{r.max if r.max is not None else ''}")
    return "; ".join(parts)
