"""Who gets which offer: redemption model, budgeted greedy allocation with an LP bound, and the holdout.

Redemption model (per eligible user and offer, documented in docs/offers.md):
- the user's purchase rate comes from BG/NBD (expected purchases in 90 days / 90; prospects get the
  shop's rate of first purchases among browsers), times the offer's validity window (<= 90 days);
- their affinity to the offer is their smoothed share of events in its category or items, learned
  from their history: (events there + 5 x shop share) / (their events + 5);
- base_p = 1 - exp(-rate x window x affinity) is the chance they buy there anyway;
  p_redeem = min(0.95, base_p x (1 + elasticity x discount)), so the incremental buyers are
  p_redeem - base_p;
- expected incremental value = (p_redeem - base_p) x spend x (1 - discount) - base_p x spend x discount
  (the discount given to people who would have bought anyway is a cost), spend from Gamma-Gamma;
- expected cost = cost_per_send + p_redeem x cost_per_redemption; net value = value - cost.

Allocation: pairs with positive net value, taken greedily by net value per unit of expected cost
while every offer's budget and every user's `max_offers_per_user` allow (max_per_user: a pair is
assigned at most once per run, which satisfies any max_per_user >= 1). The LP relaxation solved
with scipy's HiGHS bounds the optimum; the report gives the gap.

Holdout: after allocation, a deterministic hash of (user, offer) puts `holdout_pct` of each offer's
audience in a control group that receives nothing, so treatment and holdout are comparable and a
user stays in the same group across retrains.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from training.data import columns as C
from training.offers.catalog import Offer, OfferCatalog
from training.segments.profiles import CustomerResult, segment_id

log = logging.getLogger(__name__)
SMOOTHING = 5.0
MAX_WINDOW_DAYS = 90.0
LP_MAX_PAIRS = 300_000


def in_holdout(user_id: str, offer_id: str, pct: float) -> bool:
    """Stable group: the first 8 bytes of blake2b(user, offer) as a number in [0, 1)."""
    digest = hashlib.blake2b(f"{offer_id}\x00{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < pct / 100.0


@dataclass
class Allocation:
    assignments: pd.DataFrame  # user_id, offer_id, group, expected_value, expected_cost, p_redeem, items
    campaigns: list[dict]
    optimality: dict = field(default_factory=dict)


def _eligible(offer: Offer, profiles: pd.DataFrame, interests: dict[str, set[str]]) -> np.ndarray:
    t = offer.target
    mask = np.ones(len(profiles), dtype=bool)

    def matches(column: str, kind: str, wanted: tuple[str, ...]) -> np.ndarray:
        wanted_set = set(wanted)
        values = profiles[column].astype(object)
        ids = values.map(lambda v: segment_id(kind, str(v)) if isinstance(v, str) else None)
        return (values.isin(wanted_set) | ids.isin(wanted_set)).to_numpy()

    if t.segments:
        mask &= matches("segment", "rfm", t.segments) if "segment" in profiles else False
    if t.clusters:
        mask &= matches("cluster", "cluster", t.clusters) if "cluster" in profiles else False
    if t.lifecycle_stages:
        mask &= matches("lifecycle_stage", "lifecycle", t.lifecycle_stages)
    if t.min_clv is not None:
        clv = (
            profiles["expected_value_365d"]
            if "expected_value_365d" in profiles
            else pd.Series(0.0, index=profiles.index)
        )
        mask &= clv.fillna(0.0).to_numpy() >= t.min_clv
    if t.categories:
        wanted = set(t.categories)
        mask &= np.array([bool(interests.get(u, set()) & wanted) for u in profiles.index])
    return mask


def allocate(
    catalog: OfferCatalog,
    customers: CustomerResult,
    events: pd.DataFrame,
    items: pd.DataFrame,
    recs: dict[str, list[str]],
    now: pd.Timestamp,
) -> Allocation:
    profiles = customers.profiles
    users = profiles.index.astype(str)
    cat_of = items.set_index(C.ITEM_ID)[C.CATEGORY]
    ev = pd.DataFrame(
        {"user": events[C.USER_ID].astype(str).to_numpy(), "item": events[C.ITEM_ID].astype(str).to_numpy()}
    )
    ev["category"] = ev["item"].map(cat_of).fillna("uncategorized").to_numpy()
    user_events = ev.groupby("user").size().reindex(users, fill_value=0).to_numpy(dtype=float)
    interests = ev.groupby("user")["category"].agg(set).to_dict()
    shop_share = ev["category"].value_counts(normalize=True)

    exp90 = (
        profiles["expected_purchases_90d"] if "expected_purchases_90d" in profiles else pd.Series(np.nan, index=users)
    )
    buyers = exp90.notna()
    prospects = profiles["lifecycle_stage"].eq("prospect")
    # Prospects: the share of browsers who became buyers, spread over the history's length in days.
    span_days = max(1.0, (events[C.TIMESTAMP].max() - events[C.TIMESTAMP].min()).total_seconds() / 86400)
    prospect_rate = (buyers.sum() / max(1, len(profiles))) / span_days
    rate = (exp90.fillna(0.0) / 90.0).where(~prospects, prospect_rate).to_numpy(dtype=float)
    mean_spend = (
        float(profiles["expected_spend"].dropna().mean())
        if "expected_spend" in profiles and profiles["expected_spend"].notna().any()
        else 0.0
    )
    spend = profiles["expected_spend"] if "expected_spend" in profiles else pd.Series(np.nan, index=users)
    spend = spend.fillna(mean_spend).to_numpy(dtype=float)

    rows = []
    campaigns: list[dict] = []
    for offer in catalog.offers:
        summary = {
            **offer.to_public(),
            "eligible_users": 0,
            "candidates": 0,
            "audience_size": 0,
            "holdout_size": 0,
            "expected_cost": 0.0,
            "expected_value": 0.0,
            "status": "active",
        }
        campaigns.append(summary)
        if offer.valid_to < now:
            summary["status"] = "expired"
            continue
        elig = _eligible(offer, profiles, interests)
        summary["eligible_users"] = int(elig.sum())
        if not elig.any():
            continue
        idx = np.flatnonzero(elig)
        start = max(offer.valid_from, now)
        window = float(np.clip((offer.valid_to - start).total_seconds() / 86400.0, 1.0, MAX_WINDOW_DAYS))
        cats = set()
        if offer.category:
            cats.add(offer.category)
        cats |= {str(cat_of.get(i)) for i in offer.items if i in cat_of.index}
        if cats:
            in_cat = ev[ev["category"].isin(cats)].groupby("user").size().reindex(users[idx], fill_value=0)
            prior = float(shop_share.reindex(list(cats)).fillna(0.0).sum())
            affinity = (in_cat.to_numpy(dtype=float) + SMOOTHING * prior) / (user_events[idx] + SMOOTHING)
        else:
            affinity = np.ones(len(idx))
        d = offer.discount_pct / 100.0
        base_p = 1.0 - np.exp(-rate[idx] * window * affinity)
        p_redeem = np.minimum(0.95, base_p * (1.0 + offer.elasticity * d))
        value = (p_redeem - base_p) * spend[idx] * (1 - d) - base_p * spend[idx] * d
        cost = offer.cost_per_send + p_redeem * offer.cost_per_redemption
        net = value - cost
        keep = net > 0
        summary["candidates"] = int(keep.sum())
        for u, nv, c, p in zip(users[idx][keep], net[keep], cost[keep], p_redeem[keep]):
            rows.append((u, offer.offer_id, float(nv), float(c), float(p)))
    pairs = pd.DataFrame(rows, columns=["user_id", "offer_id", "expected_value", "expected_cost", "p_redeem"])
    chosen = greedy(pairs, {o.offer_id: o.budget for o in catalog.offers}, catalog.max_offers_per_user)
    optimality = lp_gap(pairs, chosen, {o.offer_id: o.budget for o in catalog.offers}, catalog.max_offers_per_user)
    assigned = pairs[chosen].copy()
    assigned["group"] = [
        "holdout" if in_holdout(u, o, catalog.holdout_pct) else "treatment"
        for u, o in zip(assigned["user_id"], assigned["offer_id"])
    ]
    offers_by_id = {o.offer_id: o for o in catalog.offers}
    assigned["items"] = [
        featured_items(offers_by_id[o], recs.get(u, []), cat_of)
        for u, o in zip(assigned["user_id"], assigned["offer_id"])
    ]
    rfm_of = profiles["segment"] if "segment" in profiles else pd.Series(dtype=object)
    for summary in campaigns:
        mine = assigned[assigned["offer_id"] == summary["offer_id"]]
        treat = mine[mine["group"] == "treatment"]
        summary["audience_size"] = int(len(treat))
        summary["holdout_size"] = int((mine["group"] == "holdout").sum())
        summary["expected_cost"] = float(treat["expected_cost"].sum())  # unrounded: must compare with the budget
        summary["expected_value"] = round(float(treat["expected_value"].sum()), 2)
        summary["per_segment"] = {
            str(k): int(v) for k, v in rfm_of.reindex(treat["user_id"]).fillna("none").value_counts().items()
        }
    return Allocation(assigned.reset_index(drop=True), campaigns, optimality)


def featured_items(offer: Offer, user_recs: list[str], cat_of: pd.Series, n: int = 4) -> list[str]:
    """The user's best recommendations within the offer's items or category (the offer's own items next)."""
    allowed_items = set(offer.items)
    picked = [i for i in user_recs if (i in allowed_items) or (offer.category and cat_of.get(i) == offer.category)]
    if not offer.items and not offer.category:
        picked = list(user_recs)
    for i in offer.items:
        if len(picked) >= n:
            break
        if i not in picked:
            picked.append(i)
    return picked[:n]


def greedy(pairs: pd.DataFrame, budgets: dict[str, float], per_user_cap: int) -> np.ndarray:
    """Boolean mask of chosen pairs; never exceeds a budget or a user's cap."""
    chosen = np.zeros(len(pairs), dtype=bool)
    if pairs.empty:
        return chosen
    ratio = pairs["expected_value"].to_numpy() / np.maximum(pairs["expected_cost"].to_numpy(), 1e-9)
    order = np.lexsort((pairs["user_id"].to_numpy(), -ratio))
    left = dict(budgets)
    count: dict[str, int] = {}
    users = pairs["user_id"].to_numpy()
    offers = pairs["offer_id"].to_numpy()
    costs = pairs["expected_cost"].to_numpy()
    for k in order:
        u, o, c = users[k], offers[k], costs[k]
        if c <= left[o] + 1e-12 and count.get(u, 0) < per_user_cap:
            chosen[k] = True
            left[o] -= c
            count[u] = count.get(u, 0) + 1
    return chosen


def lp_gap(pairs: pd.DataFrame, chosen: np.ndarray, budgets: dict[str, float], per_user_cap: int) -> dict:
    """Greedy value against the LP relaxation's optimum (an upper bound on any allocation)."""
    greedy_value = float(pairs["expected_value"].to_numpy()[chosen].sum()) if len(pairs) else 0.0
    out = {"method": "greedy by net value per expected cost", "greedy_value": round(greedy_value, 2)}
    if pairs.empty or len(pairs) > LP_MAX_PAIRS:
        out["lp_bound"] = None if len(pairs) else 0.0
        return out
    n = len(pairs)
    offer_codes, offer_ids = pd.factorize(pairs["offer_id"])
    user_codes, _ = pd.factorize(pairs["user_id"])
    a_budget = sp.csr_matrix(
        (pairs["expected_cost"].to_numpy(), (offer_codes, np.arange(n))), shape=(len(offer_ids), n)
    )
    a_user = sp.csr_matrix((np.ones(n), (user_codes, np.arange(n))), shape=(user_codes.max() + 1, n))
    res = linprog(
        -pairs["expected_value"].to_numpy(),
        A_ub=sp.vstack([a_budget, a_user]).tocsr(),
        b_ub=np.r_[[budgets[o] for o in offer_ids], np.full(a_user.shape[0], per_user_cap)],
        bounds=(0, 1),
        method="highs",
    )
    if res.status == 0:
        bound = -float(res.fun)
        out["lp_bound"] = round(bound, 2)
        out["gap"] = round((bound - greedy_value) / bound, 4) if bound > 0 else 0.0
    return out
