"""A synthetic grocery-like shop with known answers: consumables re-bought on a cycle, durables bought once.

Every customer has two weekly consumables (a personal period of 6-8 days, +-1 day of jitter per
purchase), one monthly consumable (33-37 days) and two to four durables bought once each at random
times. Purchases of one customer on one day share an order id. Used by the ranking stage's
known-answer test: the ranker must put a weekly consumable (always due within a label window) first
and must never show a customer a durable they already own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.data import columns as C

WEEKLY = ["milk", "bread", "eggs", "bananas", "yoghurt", "coffee", "butter", "apples", "cheese", "juice"]
MONTHLY = ["detergent", "toilet paper", "olive oil", "dish soap", "toothpaste", "rice"]
DURABLES = [
    "kettle", "toaster", "blender", "frying pan", "knife set", "sofa", "lamp", "rug", "bookshelf", "desk",
    "chair", "mirror", "vacuum", "iron", "fan", "heater", "microwave", "scale", "clock", "vase",
    "bed frame", "mattress", "wardrobe", "curtains", "drill", "ladder", "tent", "bicycle", "grill", "cooler",
]  # fmt: skip
END = pd.Timestamp("2026-03-31T20:00:00Z")


@dataclass
class GroceryShop:
    events: pd.DataFrame
    items: pd.DataFrame
    durables: set[str]
    weekly: set[str]


def generate(n_users: int = 400, days: int = 150, seed: int = 7) -> GroceryShop:
    """Events (purchases with order ids) and the catalog of a grocery-like shop."""
    rng = np.random.default_rng(seed)
    item_rows = (
        [(f"W{k:02d}", name, "fresh", 2.0 + k * 0.3) for k, name in enumerate(WEEKLY)]
        + [(f"M{k:02d}", name, "household", 5.0 + k) for k, name in enumerate(MONTHLY)]
        + [(f"D{k:02d}", name, "home", 40.0 + 10 * k) for k, name in enumerate(DURABLES)]
    )
    items = pd.DataFrame(item_rows, columns=[C.ITEM_ID, C.TITLE, C.CATEGORY, C.PRICE])
    weekly_ids = [r[0] for r in item_rows if r[0].startswith("W")]
    monthly_ids = [r[0] for r in item_rows if r[0].startswith("M")]
    durable_ids = [r[0] for r in item_rows if r[0].startswith("D")]
    durable_pop = rng.dirichlet(np.full(len(durable_ids), 0.7))  # some durables sell much better
    start = END - pd.Timedelta(days=days)
    rows = []
    for u in range(n_users):
        user = f"G{u:04d}"
        cycles = [(i, rng.uniform(6.0, 8.0), 1.0) for i in rng.choice(weekly_ids, 2, replace=False)]
        cycles.append((str(rng.choice(monthly_ids)), rng.uniform(33.0, 37.0), 2.0))
        for item, period, jitter in cycles:
            t = rng.uniform(0, period)
            while t < days:
                rows.append((user, item, t))
                t += period + rng.uniform(-jitter, jitter)
        for item in rng.choice(durable_ids, int(rng.integers(2, 5)), replace=False, p=durable_pop):
            rows.append((user, str(item), rng.uniform(0, days)))
    ev = pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, "day"])
    ev[C.TIMESTAMP] = start + pd.to_timedelta(np.floor(ev["day"]) + 0.4, unit="D")  # shopping trips at ~10am
    ev[C.EVENT] = C.PURCHASE
    ev[C.QUANTITY] = 1.0
    ev[C.PRICE] = ev[C.ITEM_ID].map(items.set_index(C.ITEM_ID)[C.PRICE])
    ev[C.ORDER_ID] = ev[C.USER_ID] + "-" + np.floor(ev["day"]).astype(int).astype(str)
    ev = ev.drop(columns="day").sort_values([C.TIMESTAMP, C.USER_ID, C.ITEM_ID], ignore_index=True)
    for col in (C.BRAND, C.DESCRIPTION, C.TAGS):
        items[col] = ""
    items[C.AVAILABLE] = True
    return GroceryShop(events=ev, items=items, durables=set(durable_ids), weekly=set(weekly_ids))
