"""The ranking stage's lists in the job's user order, under the `--exclude-seen` policy.

- `auto` (the default): the stage's main list as it is: it decides per customer and item what to show
  again (milk yes, a sofa no). The per-user purchased sets published for the service's request-time
  filter leave out what the stage chose to show again, so the service drops only what the stage dropped.
- `none`: the same list, with the full purchased sets (the service filters every purchase, as before).
- `purchased`: the stage's "discover" list (never-bought items in the model's order).
- `interacted`: the discover list without viewed items either.
Users the stage does not cover keep the hybrid's list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.data import columns as C
from training.ranking.stage import RankResult


@dataclass
class ServedLists:
    items: np.ndarray  # users x top_n external ids ('' padded)
    scores: np.ndarray
    reasons: np.ndarray | None  # reason codes (training.ranking.reasons), '' padded; None when not known
    buy_again_items: np.ndarray
    buy_again_scores: np.ndarray
    purchased: dict[str, list[str]]  # what the service's request-time filter removes
    report: dict
    index: np.ndarray | None = None  # `items` as indexes into the job's `item_ids` (-1 padded), when known


def _align(
    stage_users: np.ndarray, users: np.ndarray, stage_rows: np.ndarray, fallback: np.ndarray, *, owned: bool = False
) -> np.ndarray:
    """Rows of `stage_rows` in the order of `users`; users the stage did not cover keep `fallback` (filled
    in place when `owned`: a padding made for the call, not the caller's array)."""
    out = fallback if owned else fallback.copy()
    pos = pd.Index(stage_users).get_indexer(pd.Index(users))
    ok = pos >= 0
    out[ok] = stage_rows[pos[ok]]
    return out


def _not_shown(purchased: dict[str, list[str]], users: np.ndarray, items: np.ndarray) -> dict[str, list[str]]:
    """Each user's purchases minus the items of their served row (one row's set at a time: a set per user
    for every user at once took 2.8 GB at 330k customers)."""
    row_of = {str(u): k for k, u in enumerate(users)}
    out = {}
    for user, got in purchased.items():
        row = row_of.get(user)
        shown = set(items[row]) if row is not None else ()
        out[user] = [i for i in got if i not in shown]
    return out


def _drop_seen(
    items: np.ndarray, scores: np.ndarray, users: np.ndarray, seen: dict[str, set[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each user's seen items from padded id rows, keeping the order ('' / NaN pad at the end)."""
    items, scores = items.copy(), scores.copy()
    n = items.shape[1]
    for row, user in enumerate(users):
        drop = seen.get(str(user))
        if not drop:
            continue
        keep = [k for k, i in enumerate(items[row]) if i and i not in drop]
        items[row] = np.array([items[row][k] for k in keep] + [""] * (n - len(keep)), dtype=object)
        scores[row] = np.array([scores[row][k] for k in keep] + [np.nan] * (n - len(keep)), dtype=np.float32)
    return items, scores


def served_lists(
    result: RankResult,
    events: pd.DataFrame,
    users: np.ndarray,
    policy: str,
    hybrid_items: np.ndarray | None,
    hybrid_scores: np.ndarray | None,
    purchased: dict[str, list[str]],
    hybrid_index: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> ServedLists:
    """The lists to serve from a stage result (see the module docstring). With the hybrid's lists as
    indexes into the job's `item_ids` too, the served lists come as such indexes as well (`index`).

    When the stage covers every user in the job's order (the usual case), the served lists are the
    stage's own arrays, not copies (at 330k customers the copies and their fallbacks were 1.3 GB). Without
    the hybrid's lists (None), users the stage does not cover get empty rows."""
    main = policy in ("auto", "none")
    src_items, src_scores = (result.items, result.scores) if main else (result.new_items, result.new_scores)
    everyone = len(result.user_ids) == len(users) and bool(np.all(result.user_ids == users))

    def aligned(stage_rows: np.ndarray, fallback, pad) -> np.ndarray:
        """The stage's rows in the job's user order: the stage's own array when it covers everyone in that
        order; else a copy, the others keeping `fallback` (the hybrid's rows), or `pad` where it has none."""
        if everyone:
            return stage_rows
        if fallback is not None:
            return _align(result.user_ids, users, stage_rows, fallback)
        padding = np.full((len(users), stage_rows.shape[1]), pad, stage_rows.dtype)
        return _align(result.user_ids, users, stage_rows, padding, owned=True)

    out_items = aligned(src_items, hybrid_items, "")
    out_scores = aligned(src_scores, hybrid_scores, np.nan)
    out_index = None
    codes = result.item_codes if main else result.new_codes
    can_index = item_ids is not None and codes is not None and (hybrid_index is not None or hybrid_items is None)
    if can_index and policy != "interacted":
        to_job = pd.Index(item_ids).get_indexer(pd.Index(result.code_ids)).astype(np.int32)  # stage code -> job
        mapped = to_job[np.maximum(codes, 0)]  # int32 like the codes (int64 temporaries: 0.8 GB at 330k users)
        mapped[codes < 0] = -1
        out_index = aligned(mapped, hybrid_index, -1)
    reasons = aligned(result.reasons, None, "") if main else None
    if policy == "interacted":
        seen = events.groupby(C.USER_ID)[C.ITEM_ID].agg(set).to_dict()
        out_items, out_scores = _drop_seen(out_items, out_scores, users, seen)
    if policy == "auto":
        purchased = _not_shown(purchased, users, out_items)
    return ServedLists(
        items=out_items,
        scores=out_scores,
        reasons=reasons,
        buy_again_items=aligned(result.buy_again_items, None, ""),
        buy_again_scores=aligned(result.buy_again_scores, None, np.nan),
        purchased=purchased,
        report=result.report,
        index=out_index,
    )
