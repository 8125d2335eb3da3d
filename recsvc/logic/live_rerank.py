"""Live re-ranking: what a user looks at now moves similar items up and brings new candidates in.

Each of the user's last views and carts (up to MAX_RECENT distinct items, newest first, a cart
counting double) has weight 0.5 ** position. A candidate's boost is BOOST times the weighted sum of
its normalised similarity to those items; its base is 1 - rank / length in the cached list (0 when
it is not there), so the closest item to what the user is looking at now outranks the cached top. Candidates are ordered by base + boost, and the reason names the recent item that
contributed most when the boost outweighs the base.
"""

from __future__ import annotations

from recsvc.store import Catalog, Ranked
from recsvc.store.reads import PublishedReads

MAX_RECENT = 5
BOOST = 1.5
LIVE_TYPES = {"view": 1.0, "click": 1.0, "cart": 2.0}


def recent_interests(recent: list[tuple[str, str, float]]) -> list[tuple[str, float, str]]:
    """(item, weight, verb) for the newest distinct viewed or carted items."""
    out: list[tuple[str, float, str]] = []
    seen: set[str] = set()
    for event, item, _ in recent:
        if event in LIVE_TYPES and item not in seen:
            seen.add(item)
            out.append((item, LIVE_TYPES[event] * 0.5 ** len(out), "viewed" if event == "view" else "added to cart"))
            if len(out) >= MAX_RECENT:
                break
    return out


def rerank(
    ranked: Ranked | None, interests: list[tuple[str, float, str]], reads: PublishedReads, catalog: Catalog
) -> tuple[Ranked, dict[str, str]]:
    """New (ids, scores) ordering and a reason per boosted item."""
    ids, _ = ranked or ([], [])
    length = max(len(ids), 1)
    score = {item: 1.0 - rank / length for rank, item in enumerate(ids)}
    best: dict[str, tuple[float, str]] = {}
    lists = reads.similar_many(catalog.version, [item for item, _, _ in interests])
    for (source, weight, verb), sims in zip(interests, lists):
        sim_ids, sim_scores = sims or ([], [])
        if not sim_ids:
            continue
        top = max(sim_scores[0], 1e-9)
        title = catalog.items.get(source, ("this item",))[0] or source
        for item, s in zip(sim_ids, sim_scores):
            boost = BOOST * weight * max(s, 0.0) / top
            score[item] = score.get(item, 0.0) + boost
            if boost > best.get(item, (0.0, ""))[0]:
                best[item] = (boost, f"similar to {title} you {verb}")
    order = sorted(score, key=lambda i: -score[i])
    reasons = {item: why for item, (boost, why) in best.items() if boost >= score[item] - boost}
    return (order, [round(score[i], 4) for i in order]), reasons
