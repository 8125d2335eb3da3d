"""Campaigns: finding one, its public summary, a user's live offers, checking outcomes, the uplift report."""

from __future__ import annotations

import math

from contract import event_rules
from contract.records import AUDIENCE_GROUPS, HOLDOUT, TREATMENT, Campaign, Outcome, UserOffers
from recsvc.errors import BadRequest, NotFound
from recsvc.store.reads import PublishedReads
from reporting import stats

OFFER_FIELDS = ("offer_id", "title", "discount_pct", "expected_value", "items", "valid_to", "max_per_user")
SUMMARY_FIELDS = (
    "offer_id",
    "title",
    "valid_from",
    "valid_to",
    "discount_pct",
    "eligible_users",
    "audience_size",
    "holdout_size",
    "expected_cost",
    "budget",
    "expected_value",
    "per_segment",
)


def find_campaign(reads: PublishedReads, version: str, offer_id: str) -> Campaign:
    for c in reads.campaigns(version):
        if c.offer_id == offer_id:
            return c
    raise NotFound(f"unknown campaign '{offer_id}'", code="unknown_campaign")


def summary(campaign: Campaign, now: str) -> dict:
    """The campaign as /v1/campaigns lists it, with its status now."""
    return {k: getattr(campaign, k) for k in SUMMARY_FIELDS} | {"status": campaign.status_at(now)}


def live_offers(entry: UserOffers, now: str) -> list[dict]:
    """A user's assigned offers that are valid now, in the public shape (each one to send: not a holdout)."""
    return [{k: getattr(o, k) for k in OFFER_FIELDS} | {"holdout": False} for o in entry.offers if o.is_valid(now)]


def held_out_of(reads: PublishedReads, version: str, user_id: str, entry: UserOffers) -> list[str]:
    """The offers whose holdout (control group) the user is in: they must not be sent to this user."""
    if entry.holdout_offers or not entry.holdout:
        return list(entry.holdout_offers)
    # A version published before the per-offer list: ask each campaign's audience.
    ids = [c.offer_id for c in reads.campaigns(version)]
    return [o for o in ids if reads.audience_group(version, o, [user_id])[0] == HOLDOUT]


def check_outcomes(
    reads: PublishedReads, version: str, offer_id: str, parsed: dict[str, tuple[int, dict]]
) -> dict[str, Outcome]:
    """Each user's outcome with their audience group, from (index in the body, fields); a 400 naming the
    entry for users outside the audience or for holdout users said to have received the offer."""
    groups = reads.audience_group(version, offer_id, list(parsed))
    out = {}
    for (user, (index, fields)), group in zip(parsed.items(), groups):
        where = f"outcomes[{index}]"
        if group is None:
            raise BadRequest(
                f"{where}.user_id: '{user}' is not in the audience of '{offer_id}'", code="not_in_audience"
            )
        if group == HOLDOUT and (fields["sent"] or fields["redeemed"]):
            raise BadRequest(f"{where}: '{user}' is in the holdout group and received no offer", code="invalid_outcome")
        out[user] = Outcome(group=group, **fields)
    return out


def build_report(reads: PublishedReads, version: str, campaign: Campaign) -> dict:
    """Treatment against holdout for one campaign (also drawn by the dashboard)."""
    offer_id = campaign.offer_id
    sizes = reads.audience_sizes(version, offer_id)
    outcomes = reads.outcomes(offer_id)
    groups = {}
    for g in AUDIENCE_GROUPS:
        mine = [r for r in outcomes if r.group == g]
        n = max(sizes[g], len(mine))
        conv = sum(r.converted for r in mine)
        amounts = [event_rules.bounded(r.revenue, event_rules.MAX_USER_REVENUE) for r in mine]
        revenue = math.fsum(amounts)
        revenue_sq = math.fsum(a * a for a in amounts)
        mean, var = stats.mean_var(revenue, revenue_sq, n)
        groups[g] = {
            "users": n,
            "with_outcomes": len(mine),
            "sent": sum(r.sent for r in mine),
            "redeemed": sum(r.redeemed for r in mine),
            "conversions": conv,
            "conversion_rate": conv / n if n else 0.0,
            "conversion_ci95": list(stats.proportion_ci(conv, n)),
            "revenue": round(revenue, 2),
            "revenue_per_user": mean,
            "_var": var,
        }
    t, h = groups[TREATMENT], groups[HOLDOUT]
    conversion = stats.two_proportion_test(t["conversions"], t["users"], h["conversions"], h["users"])
    revenue = stats.welch_test(
        t["revenue_per_user"], t.pop("_var"), t["users"], h["revenue_per_user"], h.pop("_var"), h["users"]
    )
    t["redemption_rate"] = t["redeemed"] / t["users"] if t["users"] else 0.0
    significant = conversion["p_value"] is not None and conversion["p_value"] < 0.05
    verdict = (
        "not enough data"
        if conversion["p_value"] is None
        else ("uplift" if conversion["difference"] > 0 else "negative uplift")
        if significant
        else "no difference yet"
    )
    return {
        "offer_id": offer_id,
        "model_version": version,
        "budget": campaign.budget,
        "expected_cost": campaign.expected_cost,
        "groups": groups,
        "uplift": {"conversion_rate": conversion, "revenue_per_user": revenue},
        "verdict": verdict,
        "confidence": 0.95,
    }
