"""The quality gate: before a new version is activated, check it against sanity floors and the active version.

Checks, from the run's own results and report and from the active version's meta hash:
- `catalog_items`: the new version can show at least `min_catalog_items` items;
- `catalog_vs_active`: it keeps at least (1 - `max_catalog_drop`) of the active version's catalog;
- `full_lists`: at least `min_full_lists` of the users get a full list (`top_n` items, or every showable
  item the exclusion policy leaves them);
- `ndcg_vs_active`: the headline offline NDCG did not fall by more than `max_ndcg_drop` of the active
  version's (skipped when either run was not evaluated).
A failing gate publishes nothing (`QualityGateError`, exit code 5) unless the operator forces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.data import columns as C
from training.failures import TrainingError

HEADLINE_MODEL = "hybrid"
HEADLINE_METRIC = "ndcg@10"


class QualityGateError(TrainingError):
    """The new version failed the quality gate; nothing was published."""

    exit_code = 5


@dataclass(frozen=True)
class GateSettings:
    min_catalog_items: int = 1
    max_catalog_drop: float = 0.5
    min_full_lists: float = 0.5
    max_ndcg_drop: float = 0.2


@dataclass
class Check:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    against: str | None = None  # the active version compared with

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        return "quality gate failed: " + "; ".join(failed) if failed else "quality gate passed"

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "against_version": self.against,
            "checks": [vars(c) for c in self.checks],
        }


def headline_model(new: dict | None, old: dict | None) -> str:
    """The model two runs are compared by: the ranking stage's served list when both evaluated it (it
    serves by default), else the hybrid."""
    return "ranking" if "ranking" in (new or {}) and "ranking" in (old or {}) else HEADLINE_MODEL


def headline_ndcg(models: dict | None, model: str = HEADLINE_MODEL) -> float | None:
    """The test-holdout NDCG@10 of `model` (None when not evaluated).

    `models` is the report's model metrics or a published version's `metrics`: both name models.
    """
    value = ((models or {}).get(model) or {}).get(HEADLINE_METRIC)
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None


def full_list_share(result) -> float:
    """Share of users whose list holds `top_n` items, or every showable item their exclusions leave."""
    n_users = len(result.user_ids)
    if n_users == 0:
        return 0.0
    top_n = result.rec_items.shape[1]
    catalog = result.catalog
    showable = set(catalog.loc[catalog["in_catalog"] & catalog[C.AVAILABLE], C.ITEM_ID].astype(str))
    from training.lists import EXCLUDE_POLICIES  # the models' stack: imported only when a gate runs

    policy = (result.report.config or {}).get("exclude_seen", "purchased")
    types = EXCLUDE_POLICIES.get(policy, {C.PURCHASE})
    excluded = pd.Series(0, index=pd.Index(result.user_ids.astype(str)))
    if types is None or types:
        ev = result.events
        ev = ev[ev[C.ITEM_ID].isin(showable)]
        if types is not None:
            ev = ev[ev[C.EVENT].isin(types)]
        counts = ev.drop_duplicates([C.USER_ID, C.ITEM_ID]).groupby(C.USER_ID).size()
        excluded = counts.reindex(excluded.index, fill_value=0)
    capacity = np.minimum(top_n, len(showable) - excluded.to_numpy())
    lengths = (result.rec_items != "").sum(axis=1)
    return float(np.mean(lengths >= capacity))


def evaluate(result, active: dict | None, settings: GateSettings) -> Verdict:
    """Every check of the gate for this run's result against the active version's meta (None: first publish)."""
    verdict = Verdict(against=(active or {}).get("version"))
    items = int(result.catalog["in_catalog"].sum())
    verdict.checks.append(
        Check(
            "catalog_items",
            items >= settings.min_catalog_items,
            items,
            settings.min_catalog_items,
            f"the catalog has {items} showable items (at least {settings.min_catalog_items} required)",
        )
    )
    share = full_list_share(result)
    verdict.checks.append(
        Check(
            "full_lists",
            share >= settings.min_full_lists,
            round(share, 4),
            settings.min_full_lists,
            f"{share:.1%} of users get a full list (at least {settings.min_full_lists:.0%} required)",
        )
    )
    if active is None:
        return verdict
    old_items = int(active.get("items") or 0)
    floor = (1 - settings.max_catalog_drop) * old_items
    verdict.checks.append(
        Check(
            "catalog_vs_active",
            items >= floor,
            items,
            floor,
            f"the catalog shrinks from {old_items} to {items} items (active version {verdict.against}; "
            f"at most {settings.max_catalog_drop:.0%} smaller allowed)",
        )
    )
    model = headline_model(result.report.model_metrics, active.get("metrics"))
    new, old = headline_ndcg(result.report.model_metrics, model), headline_ndcg(active.get("metrics"), model)
    if new is not None and old is not None:
        floor = (1 - settings.max_ndcg_drop) * old
        verdict.checks.append(
            Check(
                "ndcg_vs_active",
                new >= floor,
                round(new, 4),
                round(floor, 4),
                f"{HEADLINE_METRIC} of {model} falls from {old:.4f} to {new:.4f} (active version "
                f"{verdict.against}; at most {settings.max_ndcg_drop:.0%} lower allowed)",
            )
        )
    return verdict
