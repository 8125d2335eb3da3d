"""What the job's copy beside the serving stage does (training/beside.py): the stages that need nothing the
ranking stage computes (bought together, the customers' segments and value) and the ranking stage's
test-holdout evaluation, whose own fit of the stage is the longest of them.

Meanwhile the job's process fits the serving stage, the hybrid and the lists: on two CPUs the two paths
take about as long (online-retail: 55 s each), where the customers and bought-together stages used to
follow the serving stage on the job's path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from training.baskets.model import BoughtTogether
from training.config import RunConfig
from training.data import columns as C
from training.evaluation.protocol import split
from training.merchandising.build import bought_together
from training.segments.profiles import CustomerResult
from training.segments.profiles import build as build_customers


@dataclass
class BesideResult:
    shop_evaluation: dict
    bought_together: BoughtTogether
    customers: CustomerResult
    seconds: dict[str, float]  # per part, measured in the copy


def customers_of(events: pd.DataFrame, items: pd.DataFrame, config: RunConfig) -> CustomerResult:
    """The customers stage of the run (RFM, clusters, lifecycle, CLV), wherever it runs."""
    return build_customers(
        events, items, as_of=config.as_of, k_range=config.cluster_range, seed=config.seed, popular_n=config.popular_n
    )


def work_beside(evaluate_shop: Callable, events: pd.DataFrame, items: pd.DataFrame, config: RunConfig) -> BesideResult:
    """Bought together, the customers and the shop evaluation (`evaluate_shop(train, test, items, config)`)
    of the run, as the job's process would compute them. The catalog's items are its showable ones: the
    final fit's catalog frame lists exactly the items file's ids as in the catalog."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    fbt = bought_together(events, set(items[C.ITEM_ID].astype(str)), config)
    seconds["bought_together"] = time.perf_counter() - t
    t = time.perf_counter()
    customers = customers_of(events, items, config)
    seconds["customers"] = time.perf_counter() - t
    t = time.perf_counter()
    train, test = split(events, config)
    shop = evaluate_shop(train, test, items, config)
    seconds["evaluation"] = time.perf_counter() - t
    return BesideResult(shop_evaluation=shop, bought_together=fbt, customers=customers, seconds=seconds)
