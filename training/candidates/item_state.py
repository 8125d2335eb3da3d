"""Item-level state fitted over every customer, for contexts that hold only some customers' events.

A `Context` normally computes item statistics (buyers, repurchase rates, popularity, trend, typical
repurchase gaps, prices paid) and item models (EASE, item-kNN, ALS item factors, co-purchase and
co-view similarities) from its own events. The Spark engine (training/spark/) builds one context per
partition of customers instead: the item-level part is fitted once over all customers (Spark SQL,
MLlib) and handed to every partition as an `ItemState` and `ItemModels`. With both, a partition's
candidates and features are the ones the context of all customers gives for the same customers.

`item_state_of(ctx)` computes the statistics from a context of all customers with the local code's
own definitions: the reference the Spark aggregates are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.candidates.base import Context, build_context, buyer_counts
from training.candidates.cf import ALSSource, EASESource, ItemKNNSource
from training.candidates.copurchase import CoPurchaseSource, CoViewSource
from training.candidates.popular import recent_buyers, trend
from training.data import columns as C
from training.data.idmap import IdMap
from training.data.interactions import event_weights


@dataclass
class ItemState:
    """Per-item statistics over every customer before a context's as_of (arrays over the context's items)."""

    buyers: np.ndarray  # distinct buyers (float64)
    repeat_buyers: np.ndarray  # buyers on two or more distinct days
    recent_buyers: np.ndarray  # float32, training.candidates.popular.recent_buyers
    trend: np.ndarray  # float32, training.candidates.popular.trend
    buyers_30d: np.ndarray  # buyers whose last purchase is at most 30 days old
    buyers_7d: np.ndarray
    first_seen_age: np.ndarray  # days since the item's first event (NaN: none)
    repurchase_gap: np.ndarray  # median days between two purchase days of one customer (NaN: none)
    price: np.ndarray  # catalog price, else the median price paid (NaN: unknown)
    has_orders: bool  # the events carry order ids (baskets are orders, not sessions)

    def feature_columns(self) -> dict[str, np.ndarray]:
        """The item columns of training.ranking.features that need every customer."""
        return {
            "item_buyers_30d": np.log1p(self.buyers_30d),
            "item_buyers_7d": np.log1p(self.buyers_7d),
            "item_age": self.first_seen_age.astype(np.float64),
            "item_gap": self.repurchase_gap.astype(np.float64),
        }


def item_state_of(ctx: Context) -> ItemState:
    """The statistics of a context of all customers, as training.ranking.features computes them."""
    buyers, repeat = buyer_counts(ctx)
    n_i = ctx.n_items
    p = ctx.purchases()
    last = p.groupby(["u", "i"])["age_days"].min()
    li = last.index.get_level_values(1).to_numpy()
    first_seen = ctx.events.groupby("i")["age_days"].max()
    age = np.full(n_i, np.nan)
    age[first_seen.index.to_numpy()] = first_seen.to_numpy()
    day = np.floor(p["age_days"].to_numpy())
    d = p.assign(_day=day).drop_duplicates(["u", "i", "_day"]).sort_values(["u", "i", "_day"])
    same = (d["u"].to_numpy()[1:] == d["u"].to_numpy()[:-1]) & (d["i"].to_numpy()[1:] == d["i"].to_numpy()[:-1])
    gaps = pd.Series(np.abs(np.diff(d["_day"].to_numpy()))[same], index=d["i"].to_numpy()[1:][same])
    med = gaps.groupby(level=0).median()
    gap = np.full(n_i, np.nan)
    gap[med.index.to_numpy()] = med.to_numpy()
    return ItemState(
        buyers=buyers,
        repeat_buyers=repeat,
        recent_buyers=recent_buyers(ctx),
        trend=trend(ctx),
        buyers_30d=np.bincount(li[last.to_numpy() <= 30], minlength=n_i).astype(np.float64),
        buyers_7d=np.bincount(li[last.to_numpy() <= 7], minlength=n_i).astype(np.float64),
        first_seen_age=age,
        repurchase_gap=gap,
        price=ctx.item_price,
        has_orders=ctx.has_orders,
    )


@dataclass
class ItemModels:
    """Item models fitted over every customer; user factors of ALS come per partition (`user_factors`)."""

    ease_active: np.ndarray | None = None  # items EASE was fitted on (None: no EASE)
    ease_b: np.ndarray | None = None  # its items x items weights over `ease_active`
    itemknn: sp.csr_matrix | None = None  # items x items BM25 neighbours, zero diagonal
    als_items: np.ndarray | None = None  # items x factors (zeros for items ALS never saw)
    copurchase: sp.csr_matrix | None = None
    coview: sp.csr_matrix | None = None
    extra: dict = field(default_factory=dict)


class FittedEASE(EASESource):
    def __init__(self, models: ItemModels) -> None:
        super().__init__()
        self.models = models

    def fit(self, ctx: Context) -> FittedEASE:
        self.ctx = ctx
        self.active, self.b = self.models.ease_active, self.models.ease_b
        self.h = ctx.log_history[:, self.active].tocsr()
        return self


class FittedItemKNN(ItemKNNSource):
    def __init__(self, models: ItemModels) -> None:
        super().__init__()
        self.models = models

    def fit(self, ctx: Context) -> FittedItemKNN:
        self.ctx = ctx
        self.sim = self.models.itemknn
        self.h = ctx.log_history
        return self


class FittedALS(ALSSource):
    """ALS item factors fitted elsewhere; `user_factors` is aligned with the context's users (zeros: none)."""

    def __init__(self, models: ItemModels, user_factors: np.ndarray) -> None:
        super().__init__()
        self.models = models
        self.user_factors = user_factors

    def fit(self, ctx: Context) -> FittedALS:
        self.ctx = ctx
        self.uf = np.asarray(self.user_factors, dtype=np.float32)
        self.vf = np.asarray(self.models.als_items, dtype=np.float32)
        return self


class FittedCoPurchase(CoPurchaseSource):
    def __init__(self, models: ItemModels) -> None:
        super().__init__()
        self.models = models

    def fit(self, ctx: Context) -> FittedCoPurchase:
        self.ctx = ctx
        self.sim = getattr(self.models, self.name)
        self.h = ctx.log_history
        self.active = self.sim.nnz > 0
        return self


class FittedCoView(FittedCoPurchase, CoViewSource):
    name = "coview"


def fitted_sources(names: list[str], models: ItemModels, user_factors: np.ndarray | None, seed: int) -> list:
    """Unfitted sources by name (training.candidates.union.make_sources) whose item models are `models`."""
    from training.candidates.union import make_sources

    out = []
    for source in make_sources(names, seed):
        fitted = {
            "ease": lambda: FittedEASE(models),
            "itemknn": lambda: FittedItemKNN(models),
            "als": lambda: FittedALS(models, user_factors),
            "copurchase": lambda: FittedCoPurchase(models),
            "coview": lambda: FittedCoView(models),
        }.get(source.name)
        out.append(fitted() if fitted else source)
    return out


def models_of(sources: list) -> ItemModels:
    """The item models of sources fitted on a context of all customers (the local reference)."""
    m = ItemModels()
    for s in sources:
        if s.name == "ease":
            m.ease_active, m.ease_b = s.active, s.b
        elif s.name == "itemknn":
            m.itemknn = s.sim
        elif s.name == "als":
            m.als_items = s.vf
            m.extra["als_users"] = s.uf
        elif s.name in ("copurchase", "coview"):
            setattr(m, s.name, s.sim)
    return m


@dataclass
class ItemLevel:
    """What a context of some customers takes from outside: the item map, statistics and models over
    every customer before `as_of`, and the ALS factors of the customers it holds (index user_id)."""

    items: IdMap
    state: ItemState
    models: ItemModels
    user_factors: pd.DataFrame | None = None  # index user_id, one column per factor

    def context(
        self, events: pd.DataFrame, catalog: pd.DataFrame, as_of: pd.Timestamp, weights: dict[str, float] | None
    ) -> Context:
        """The context of the customers in `events` (their events only), scored as among all customers."""
        w = dict(weights or C.DEFAULT_EVENT_WEIGHTS)
        kept = (events[C.TIMESTAMP] < as_of).to_numpy() & (event_weights(events, w) > 0)
        users = IdMap(np.sort(events.loc[kept, C.USER_ID].unique()))
        return build_context(events, catalog, as_of, w, users=users, item_map=self.items, item_state=self.state)

    def sources(self, names: list[str], ctx: Context, seed: int) -> list:
        """Sources for `names` whose item models are these (unfitted: fit_sources fits them on ctx)."""
        factors = None
        if self.models.als_items is not None:
            k = self.models.als_items.shape[1]
            factors = np.zeros((ctx.n_users, k), dtype=np.float32)
            if self.user_factors is not None and len(self.user_factors):
                pos = pd.Index(self.user_factors.index).get_indexer(pd.Index(ctx.users.ids))
                ok = pos >= 0
                factors[ok] = self.user_factors.to_numpy(dtype=np.float32)[pos[ok]]
        return fitted_sources(names, self.models, factors, seed)
