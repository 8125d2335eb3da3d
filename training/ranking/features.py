"""Features of (user, item) candidate pairs, computed only from a `Context` (events before its as_of).

Every time is an age in days before as_of, so a model trained on a window cut from the past applies
unchanged to features recomputed on all the data. Groups:

- sources: each source's score for the pair, its rank where it proposed the pair (NaN elsewhere),
  and how many sources proposed it;
- user x item history: distinct days and lines bought, units, days since the first and last
  purchase, the share of the customer's purchase days that included it, how recent the last of
  those days is in the customer's own sequence and how many of their last three included it, the customer's own mean gap between purchases of it, "due" ratios of the time since the
  last purchase over that gap and over the item's typical repurchase gap, views and carts;
- item: buyers, buyers in the last 7 / 30 days, trend, repurchase rate among its buyers (and its
  category's), median repurchase gap, age in the shop, price;
- user: purchase days, distinct items, baskets, tenure, days since the last event, share of their
  items bought again, median price paid;
- pair: the item's price against the customer's median price, the customer's share of interest in
  the item's category and brand.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from training.arrays import KeyGroups
from training.candidates.affinity import group_affinity
from training.candidates.base import Context, buyer_counts, sparse_pairs
from training.candidates.copurchase import basket_ids
from training.candidates.history import repurchase_rate
from training.candidates.popular import trend
from training.data import columns as C


class _Found:
    """Where each query key sits among sorted keys: one binary search serves every column looked up."""

    def __init__(self, keys_sorted: np.ndarray, query: np.ndarray) -> None:
        self.n = len(query)
        self.pos = self.hit = None
        if len(keys_sorted):
            self.pos = np.minimum(np.searchsorted(keys_sorted, query), len(keys_sorted) - 1)
            self.hit = keys_sorted[self.pos] == query

    def take(self, values: np.ndarray, default: float) -> np.ndarray:
        """values at the found keys, `default` where a key is absent (float32)."""
        if self.pos is None:
            return np.full(self.n, default, dtype=np.float32)
        return np.where(self.hit, values[self.pos], default).astype(np.float32)


class FeatureBuilder:
    """Precomputes user, item and user x item statistics of one context; `build` adds them to pairs."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._blocks = threading.local()  # each thread's feature block, reused by build(reuse=True)
        n_u, n_i = ctx.n_users, ctx.n_items
        ev = ctx.events
        p = ctx.purchases()
        day = np.floor(p["age_days"].to_numpy())
        p = p.assign(_day=day)
        # user x item purchase statistics
        g = p.groupby(["u", "i"], sort=True)
        ui = pd.DataFrame(
            {
                "lines": g.size(),
                "qty": g[C.QUANTITY].sum(),
                "days": g["_day"].nunique(),
                "first": g["age_days"].max(),
                "last": g["age_days"].min(),
            }
        )
        # the customer's purchase days numbered from the most recent (0): was the item in their last orders?
        udays = p[["u", "_day"]].drop_duplicates().sort_values(["u", "_day"])
        udays["day_rank"] = udays.groupby("u").cumcount()  # ascending age: 0 = latest
        ranked = p[["u", "i", "_day"]].drop_duplicates().merge(udays, on=["u", "_day"], how="left")
        ranked["recent3"] = (ranked["day_rank"] < 3).astype(np.float64)
        gr = ranked.groupby(["u", "i"], sort=True)
        ui["last_day_rank"] = gr["day_rank"].min()
        ui["in_last3"] = gr["recent3"].sum()
        ui["gap"] = np.where(ui["days"] >= 2, (ui["first"] - ui["last"]) / (ui["days"] - 1).clip(lower=1), np.nan)
        self.ui_keys = (ui.index.get_level_values(0).to_numpy() * n_i + ui.index.get_level_values(1).to_numpy()).astype(
            np.int64
        )
        self.ui = {c: ui[c].to_numpy(dtype=np.float64) for c in ui.columns}
        # views / carts / clicks
        other = (ev[C.EVENT] != C.PURCHASE).to_numpy()
        self.uv_keys = np.zeros(0, np.int64)
        self.uv: dict[str, np.ndarray] = {}
        if other.any():
            # sorted integer pair keys, not a frame copy and a two-column groupby (most of a big shop's events)
            go = KeyGroups((ev["u"].to_numpy()[other] * n_i + ev["i"].to_numpy()[other]).astype(np.int64))
            self.uv_keys = go.keys
            self.uv = {
                "views": go.size().astype(np.float64),
                "carts": go.sum((ev[C.EVENT] == C.CART).to_numpy()[other].astype(np.int64)).astype(np.float64),
                "last_view": go.min(ev["age_days"].to_numpy()[other]).astype(np.float64),
            }
        # item statistics
        buyers = buyer_counts(ctx)[0]
        li, last = self.ui_keys % n_i, self.ui["last"]  # each buyer's last purchase of each item
        self.item = {
            "item_buyers": np.log1p(buyers),
            "item_buyers_30d": np.log1p(np.bincount(li[last <= 30], minlength=n_i)),
            "item_buyers_7d": np.log1p(np.bincount(li[last <= 7], minlength=n_i)),
            "item_trend": trend(ctx),
            "item_repeat_rate": repurchase_rate(ctx),
            "item_price": ctx.item_price.astype(np.float64),
        }
        first_seen = ev.groupby("i")["age_days"].max()
        age = np.full(n_i, np.nan)
        age[first_seen.index.to_numpy()] = first_seen.to_numpy()
        self.item["item_age"] = age
        # typical gap between two purchase days of the same item by the same customer
        d = p.drop_duplicates(["u", "i", "_day"]).sort_values(["u", "i", "_day"])
        same = (d["u"].to_numpy()[1:] == d["u"].to_numpy()[:-1]) & (d["i"].to_numpy()[1:] == d["i"].to_numpy()[:-1])
        gaps = pd.Series(np.abs(np.diff(d["_day"].to_numpy()))[same], index=d["i"].to_numpy()[1:][same])
        med = gaps.groupby(level=0).median()
        item_gap = np.full(n_i, np.nan)
        item_gap[med.index.to_numpy()] = med.to_numpy()
        self.item["item_gap"] = item_gap
        if (
            ctx.item_state is not None
        ):  # over every customer, not only this context's (training/candidates/item_state.py)
            self.item.update(ctx.item_state.feature_columns())
        cat = ctx.item_category
        cat_buyers = np.bincount(cat, weights=buyers, minlength=len(ctx.categories))
        cat_repeat = np.bincount(cat, weights=buyers * self.item["item_repeat_rate"], minlength=len(ctx.categories))
        self.item["cat_repeat_rate"] = (cat_repeat / np.where(cat_buyers > 0, cat_buyers, 1.0))[cat]
        # user statistics
        up = p.groupby("u")
        user = pd.DataFrame(index=pd.RangeIndex(n_u))
        user["user_days"] = np.log1p(up["_day"].nunique().reindex(user.index).fillna(0).to_numpy())
        user["user_items"] = np.log1p(np.diff(ctx.bought.indptr))
        repeat_items = np.bincount(ctx.bought.tocoo().row, weights=ctx.bought.tocoo().data >= 2, minlength=n_u)
        user["user_repeat_share"] = repeat_items / np.maximum(np.diff(ctx.bought.indptr), 1)
        ue = ev.groupby("u")["age_days"]
        user["user_tenure"] = ue.max().reindex(user.index).to_numpy()
        user["user_recency"] = ue.min().reindex(user.index).to_numpy()
        user["user_events_30d"] = np.log1p(np.bincount(ev["u"][ev["age_days"] <= 30], minlength=n_u))
        if len(p):
            b = basket_ids(p, ctx.has_orders)
            user["user_baskets"] = np.log1p(
                pd.Series(b).groupby(p["u"].to_numpy()).nunique().reindex(user.index).fillna(0).to_numpy()
            )
        else:
            user["user_baskets"] = 0.0
        priced = p[p[C.PRICE].notna() & (p[C.PRICE] > 0)] if C.PRICE in p else p.iloc[:0]
        user_price = priced.groupby("u")[C.PRICE].median().reindex(user.index).to_numpy()
        fallback = ctx.item_price[p["i"].to_numpy()] if len(p) else np.zeros(0)
        fb = pd.Series(fallback).groupby(p["u"].to_numpy()).median().reindex(user.index).to_numpy() if len(p) else None
        self.user_price = np.where(np.isfinite(user_price), user_price, fb if fb is not None else np.nan)
        self.user = {c: user[c].to_numpy(dtype=np.float64) for c in user.columns}
        self.cat_aff = group_affinity(ctx, ctx.item_category)
        self.brand_aff = group_affinity(ctx, ctx.item_brand) if (ctx.item_brand >= 0).any() else None

    def build(self, table: pd.DataFrame, source_names: list[str], reuse: bool = False) -> pd.DataFrame:
        """Feature frame (float32) for the pairs of a union table (same row order).

        `reuse`: the frame is laid in this thread's block of the previous call, grown when too small, so the
        caller must be done with that frame (the serving blocks are: each is scored and gone before the next).
        Fresh pages for every block (~250 MB at 5,000 customers) cost ~0.3 s of page faults each."""
        n_i = self.ctx.n_items
        u = table["u"].to_numpy(dtype=np.int64)
        i = table["i"].to_numpy(dtype=np.int64)
        keys = u * n_i + i
        f: dict[str, np.ndarray] = {}
        ranks = []
        for name in source_names:
            f[f"s_{name}"] = table[f"s_{name}"].to_numpy(dtype=np.float32)
            f[f"r_{name}"] = table[f"r_{name}"].to_numpy(dtype=np.float32)
            ranks.append(table[f"r_{name}"].notna().to_numpy())
        f["n_sources"] = np.sum(ranks, axis=0).astype(np.float32) if ranks else np.zeros(len(u), np.float32)
        ui = _Found(self.ui_keys, keys)
        days = ui.take(self.ui["days"], 0.0)
        f["ui_days"] = days
        f["ui_lines"] = ui.take(self.ui["lines"], 0.0)
        f["ui_qty"] = np.log1p(ui.take(self.ui["qty"], 0.0))
        last = ui.take(self.ui["last"], np.nan)
        f["ui_last"] = last
        f["ui_first"] = ui.take(self.ui["first"], np.nan)
        gap = ui.take(self.ui["gap"], np.nan)
        f["ui_gap"] = gap
        f["ui_last_day_rank"] = ui.take(self.ui["last_day_rank"], np.nan)
        f["ui_in_last3"] = ui.take(self.ui["in_last3"], 0.0)
        f["ui_day_share"] = days / np.maximum(np.expm1(self.user["user_days"][u]), 1.0).astype(np.float32)
        f["ui_due_own"] = last / np.where(gap > 0, gap, np.nan)
        f["ui_due_item"] = last / np.where(self.item["item_gap"][i] > 0, self.item["item_gap"][i], np.nan)
        # the same columns whether or not this context has views or brands: one model serves every context
        uv = _Found(self.uv_keys, keys)
        for name, default in (("views", 0.0), ("carts", 0.0), ("last_view", np.nan)):
            f[f"ui_{name}"] = uv.take(self.uv.get(name, np.zeros(0)), default)
        for name, values in self.item.items():
            f[name] = values[i].astype(np.float32)
        for name, values in self.user.items():
            f[name] = values[u].astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            f["price_vs_user"] = np.log(self.item["item_price"][i] / self.user_price[u]).astype(np.float32)
        f["cat_share"] = sparse_pairs(self.cat_aff, u, self.ctx.item_category[i])
        share = np.zeros(len(u), dtype=np.float32)
        if self.brand_aff is not None:
            bi = self.ctx.item_brand[i]
            ok = bi >= 0
            share[ok] = sparse_pairs(self.brand_aff, u[ok], bi[ok])
        f["brand_share"] = share
        # one float32 block, infinities as missing (DataFrame.replace over every cell took 10% of serving),
        # laid out a feature after another as pandas keeps a block: each column is written in one run (a
        # pair's row at a time strode across the block: 11 s of 10.5M pairs' 18 s), LightGBM reads either
        names = list(f)
        x = self._block(len(names) * len(u), reuse).reshape(len(names), len(u))
        for k, name in enumerate(names):
            x[k] = f[name]
        x[np.isinf(x)] = np.nan
        return pd.DataFrame(x.T, columns=names, copy=False)

    def _block(self, size: int, reuse: bool) -> np.ndarray:
        if not reuse:
            return np.empty(size, dtype=np.float32)
        kept = getattr(self._blocks, "x", None)
        if kept is None or len(kept) < size:
            kept = self._blocks.x = np.empty(size, dtype=np.float32)
        return kept[:size]
