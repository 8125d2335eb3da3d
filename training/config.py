"""What one training run is asked to do: inputs, list sizes, policies, seeds (built by the CLI or a test)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from training.data import columns as C
from training.data.loading import InputRules

if TYPE_CHECKING:
    from training.data.privacy import Policy


@dataclass
class RunConfig:
    events: Sequence[Path]
    items: Path
    users: Path | None = None
    top_n: int = 100
    similar_n: int = 20
    popular_n: int = 100
    # "auto": the ranking stage decides per customer and item what to show again (training/ranking/serving.py)
    exclude_seen: str = "auto"
    event_weights: dict[str, float] = field(default_factory=lambda: dict(C.DEFAULT_EVENT_WEIGHTS))
    recency_half_life_days: float | None = None
    history_half_life: float | None = 10.0
    holdout_fraction: float = 0.2
    eval_users: int | None = 5000
    seed: int = 42
    as_of: pd.Timestamp | None = None
    offers: Path | None = None
    now: pd.Timestamp | None = None  # for offer validity windows; default: the wall clock
    cluster_range: tuple[int, int] = (2, 8)
    rules: Path | None = None  # business rules published with the version (contract/rules.py)
    min_support: int = 2  # frequently bought together: baskets a pair needs
    min_lift: float = 1.0
    session_gap_minutes: float = 30.0  # purchases without an order id: a new basket after this gap
    evaluate: bool = True
    # The ranking stage's test-holdout evaluation (with bought together and the customers) in another process
    # beside the serving stage (training/beside_work.py): None decides by the CPUs and the memory for a second
    # working set; False: after the serving stage.
    evaluate_beside: bool | None = None
    progress: bool = True
    ranking: bool = True  # serve the ranking stage's lists (training/ranking/); False: the hybrid's
    evaluate_ranking: bool = False  # also score the stage on the per-user holdout (bench quality: a stage run)
    # The shop protocol: a global time split for the evaluation (events from `test_from`, or the last
    # `test_days`, are the test) instead of the per-user split.
    test_from: pd.Timestamp | None = None
    test_days: float | None = None
    input_rules: InputRules = field(default_factory=InputRules)  # time window, bad-row limit per file
    privacy: Policy | None = None  # erased customers and consent (training/data/privacy.py); None: the users file's

    def prepare_kwargs(self) -> dict:
        """How events become the interaction matrix (training.data.prepare)."""
        return dict(
            weights=self.event_weights,
            half_life_days=self.recency_half_life_days,
            history_half_life=self.history_half_life,
        )

    def summary(self) -> dict:
        """The settings the report records."""
        return {
            "top_n": self.top_n,
            "exclude_seen": self.exclude_seen,
            "event_weights": self.event_weights,
            "recency_half_life_days": self.recency_half_life_days,
            "history_half_life": self.history_half_life,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "ranking": self.ranking,
            "test_from": None if self.test_from is None else str(self.test_from),
            "test_days": self.test_days,
        }
