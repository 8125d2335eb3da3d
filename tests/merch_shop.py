"""A small shop with baskets (order ids) and margins, for the merchandising tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.datasets.synthetic import generate, write

# Items always bought together in one order: (I000001, I000002) and (I000003, I000004, I000005).
BUNDLES = (("I000001", "I000002"), ("I000003", "I000004", "I000005"))


def write_shop(out: Path, users: int = 300, items: int = 120, seed: int = 11) -> Path:
    shop = generate(users, items, seed=seed)
    rng = np.random.default_rng(seed)
    shop.items["margin"] = np.round(shop.items["price"].to_numpy() * rng.uniform(0.05, 0.5, len(shop.items)), 2)
    shop.items["available"] = True  # every item showable, so tests can pick any
    users_ = shop.events["user_id"].astype(str).unique()
    rows = []
    end = pd.Timestamp("2026-06-30T12:00:00Z")
    for k in range(120):
        bundle = BUNDLES[k % len(BUNDLES)]
        user = users_[k % len(users_)]
        t = end - pd.Timedelta(hours=3 * k)
        for item in bundle:
            rows.append((user, item, "purchase", t, 1, 5.0, f"O{k:05d}"))
        extra = f"I{int(rng.integers(10, items)):06d}"  # noise: a random third item now and then
        if k % 3 == 0:
            rows.append((user, extra, "purchase", t, 1, 5.0, f"O{k:05d}"))
    orders = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp", "quantity", "price", "order_id"])
    events = shop.events.astype({"user_id": str, "item_id": str})
    events["order_id"] = None
    shop.events = pd.concat([events, orders], ignore_index=True).sort_values("timestamp", kind="stable")
    write(shop, out)
    return out
