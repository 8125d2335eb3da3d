"""Erasure and consent as the service applies them (docs/privacy.md).

- Erase: every trace in Redis goes (contract/erasure.py); the answer is the receipt.
- Opted out of profiling: recommendations are the anonymous visitor's (popular), no profile (404),
  no segment membership; offers and audiences too, since they are chosen from profiles.
- Opted out of marketing: no offers, in no audience page or CSV.
Training leaves opted-out customers out of what it publishes; these filters cover statements made
since the last training run.
"""

from __future__ import annotations

from collections.abc import Sequence

from contract import records
from recsvc.errors import NotFound
from recsvc.store import Store

PROFILING = "profiling"
OFFERS = "offers"  # needs both purposes (records.Consent.allows_offers)


def erase(store: Store, user_id: str, requested_by: str) -> dict:
    (receipt,) = store.privacy.erase([user_id], requested_by)
    return {"erased": True} | receipt.to_dict()


def without_erased(store: Store, events: list[dict]) -> tuple[list[dict], int]:
    """Live events minus those of erased customers (the suppression list applies to what comes in, too)."""
    erased = store.privacy.erased_among({e["user_id"] for e in events})
    if not erased:
        return events, 0
    kept = [e for e in events if e["user_id"] not in erased]
    return kept, len(events) - len(kept)


def record_consent(store: Store, user_id: str, profiling: bool, marketing: bool, stated_at: float) -> dict:
    statement = records.Consent(profiling=profiling, marketing=marketing, stated_at=stated_at, source="api")
    applied, stored = store.privacy.record_consent(user_id, statement)
    return {"user_id": user_id, "applied": applied} | records.to_json_ready(stored)


def _allows(consent: records.Consent | None, purpose: str) -> bool:
    if consent is None:
        return True
    return consent.profiling if purpose == PROFILING else consent.allows_offers


def check_profile_allowed(store: Store, user_id: str) -> None:
    """404 for a customer who opted out of profiling: there is no profile to show."""
    if not _allows(store.privacy.consent(user_id), PROFILING):
        raise NotFound(f"no profile for '{user_id}': opted out of profiling", code="profiling_opted_out")


def offers_allowed(store: Store, user_id: str) -> bool:
    return _allows(store.privacy.consent(user_id), OFFERS)


def visible(store: Store, user_ids: Sequence[str], purpose: str) -> list[str]:
    """The users of a page whose latest statement allows `purpose` (profiling: segment pages; offers:
    audiences), in their order: one MGET for the page."""
    statements = store.privacy.consents(list(user_ids))
    if not statements:
        return list(user_ids)
    return [u for u in user_ids if _allows(statements.get(u), purpose)]


def counts(store: Store) -> dict[str, int]:
    """Erased customers and opt-outs, for the dashboard (numbers, never ids)."""
    return store.privacy.counts()
