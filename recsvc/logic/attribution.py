"""Attribute impressions, clicks and purchases to the experiment variant whose recommendation led to them.

- An event with a `recommendation_id` counts for that id's experiment and variant when the id's
  signature is valid, it was issued to the same user, and the event falls within the experiment's
  attribution window after it; otherwise the reason is counted (`invalid_id`, `other_user`,
  `expired`) and nothing is attributed.
- A click or purchase without an id is attributed to the user's most recent impression of the same
  item within the window (by user and item), if any.
- Impressions define exposure: a variant's users are those with at least one attributed impression.
"""

from __future__ import annotations

from contract import keys, records
from recsvc.logic.recommendation_ids import RecommendationId, read_id
from recsvc.store import Store

EXPERIMENT_EVENTS = ("impression", "click", "purchase")
DAY = 86400.0


def needs_impressions(events: list[dict]) -> set[str]:
    """Users whose recent impressions must be read to attribute id-less clicks and purchases."""
    return {e["user_id"] for e in events if e["event"] in ("click", "purchase") and not e.get("recommendation_id")}


def plan(
    events: list[dict],
    experiments: list[records.Experiment],
    secret: bytes,
    impressions: dict[str, list[records.Impression]],
) -> list[tuple]:
    """Redis commands (name, *args) that record the attribution of these events."""
    by_id = {e.experiment_id: e for e in experiments}
    commands: list[tuple] = []
    pending: dict[str, list[tuple[str, str, float]]] = {}
    for e in events:
        if e["event"] not in EXPERIMENT_EVENTS:
            continue
        token = e.get("recommendation_id")
        rid: RecommendationId | None = None
        if token:
            rid = read_id(secret, token)
            if rid is None or rid.experiment_id not in by_id:
                continue  # not ours to count, or a recommendation served outside any experiment
            exp = by_id[rid.experiment_id]
            reason = None
            if rid.user_id != e["user_id"]:
                reason = "other_user"
            elif not -300 <= e["timestamp"] - rid.issued_at <= exp.attribution_window_days * DAY:
                reason = "expired"
            if reason:
                commands.append(("HINCRBY", keys.experiment_rejected(exp.experiment_id), reason, 1))
                continue
        elif e["event"] != "impression":
            for item, tok, ts in pending.get(e["user_id"], []) + impressions.get(e["user_id"], []):
                candidate = read_id(secret, tok) if item == e["item_id"] else None
                if (
                    candidate is not None
                    and candidate.experiment_id in by_id
                    and 0 <= e["timestamp"] - ts <= (by_id[candidate.experiment_id].attribution_window_days * DAY)
                ):
                    rid = candidate
                    break
            if rid is None:
                continue
        else:
            continue
        exp_id, variant, user = rid.experiment_id, rid.variant, e["user_id"]
        if e["event"] != "click":  # per-user records: listed so an erasure finds them after the experiment ends
            commands.append(("SADD", keys.EXPERIMENT_VARIANTS, keys.experiment_variant_member(exp_id, variant)))
        if e["event"] == "impression":
            commands += [
                ("SADD", keys.experiment_counter(exp_id, variant, "users"), user),
                ("INCR", keys.experiment_counter(exp_id, variant, "impressions")),
                ("LPUSH", keys.impressions(user), records.encode((e["item_id"], token, e["timestamp"]))),
                ("LTRIM", keys.impressions(user), 0, keys.IMPRESSIONS_LENGTH - 1),
                ("EXPIRE", keys.impressions(user), int(90 * DAY)),
            ]
            pending.setdefault(user, []).insert(0, (e["item_id"], token, e["timestamp"]))
        elif e["event"] == "click":
            commands.append(("INCR", keys.experiment_counter(exp_id, variant, "clicks")))
        else:
            revenue = (e.get("price") or 0.0) * (e.get("quantity") or 1.0)
            commands += [
                ("SADD", keys.experiment_counter(exp_id, variant, "converters"), user),
                ("HINCRBYFLOAT", keys.experiment_counter(exp_id, variant, "revenue"), user, revenue),
            ]
    return commands


def record(store: Store, events: list[dict]) -> list[str]:
    """Store validated events with the attribution of those that answer an experiment; the stream ids."""
    experiments = store.versions.experiments() if any(e["event"] in EXPERIMENT_EVENTS for e in events) else []
    commands: list[tuple] = []
    if experiments:
        impressions = store.reads.impressions(sorted(needs_impressions(events)))
        commands = plan(events, experiments, store.versions.secret(), impressions)
    return store.writes.ingest(events, commands)
