"""The merchandising stage of a training run: one call from training/pipeline.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from contract import records
from contract.rules import RuleSet
from training.baskets.model import BasketSettings, BoughtTogether
from training.baskets.model import fit as fit_bought_together
from training.config import RunConfig
from training.merchandising.catalog import Ranked, attributes, content_index, new_arrivals


@dataclass
class Merchandising:
    attributes: records.CatalogAttributes
    content_index: bytes | None
    new_arrivals: dict[str, Ranked]
    bought_together: BoughtTogether
    rules: RuleSet | None = None
    rules_source: str = ""
    report: dict = field(default_factory=dict)


def catalog_as_of(items_file: Path) -> float | None:
    """How fresh the catalog is: the items file's modification time (live changes older than it are
    superseded by the version that learns from it)."""
    try:
        return Path(items_file).stat().st_mtime
    except OSError:
        return None


def margin_weight(rules: RuleSet | None) -> float | None:
    """The weight of the rules file's margin rule (shown beside the standard weights in the report)."""
    weights = [r.weight for r in (rules.active() if rules else []) if r.type == "margin" and not r.audience()]
    return sum(weights) if weights else None


def bought_together(events: pd.DataFrame, showable: set[str], config: RunConfig) -> BoughtTogether:
    """The frequently-bought-together lists of the run; `showable`: the catalog's item ids (only they are
    listed). Needs nothing else the job computes, so it may run beside the ranking stage."""
    settings = BasketSettings(
        n=config.similar_n,
        min_support=config.min_support,
        min_lift=config.min_lift,
        session_gap_minutes=config.session_gap_minutes,
    )
    return fit_bought_together(events, showable, settings)


def build(
    events: pd.DataFrame,
    catalog: pd.DataFrame,
    config: RunConfig,
    rules: RuleSet | None,
    margin: dict | None = None,
    fbt: BoughtTogether | None = None,
) -> Merchandising:
    """`catalog` is training.lists.catalog_frame of the final fit; `margin` the margin trade-off on the
    test holdout (training/merchandising/margin.py), when the run evaluated and the items have margins;
    `fbt` the bought-together lists when they were fitted already (`bought_together`)."""
    if fbt is None:
        fbt = bought_together(events, set(catalog.loc[catalog["in_catalog"], "item_id"].astype(str)), config)
    report: dict = {"bought_together": fbt.report}
    if margin is not None:
        report["margin"] = margin
    if rules is not None:
        report["rules"] = {"source": str(config.rules), "active": len(rules.active()), "total": len(rules.rules)}
    return Merchandising(
        attributes=attributes(catalog, catalog_as_of(config.items)),
        content_index=content_index(catalog),
        new_arrivals=new_arrivals(catalog, events, config.popular_n),
        bought_together=fbt,
        rules=rules,
        rules_source=f"file {Path(config.rules).name}" if config.rules else "",
        report=report,
    )
