"""A realistic synthetic shop generated from a seed.

Categories with brands and price levels; items with titles, descriptions and tags; users with
latent category and brand tastes, price sensitivity and very different activity levels; a browse ->
cart -> purchase funnel whose conversion follows the user's taste; repeat purchases of consumables;
and new items with no history. Everything is vectorised per chunk of users, so 10 million events take
about a minute, and `write_streaming` writes shops of any size (2M users x 200k items) in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from training.data import columns as C

CATEGORIES = {
    # name: (mean price, consumable?, nouns)
    "electronics": (180.0, False, ["headphones", "speaker", "charger", "camera", "monitor", "keyboard"]),
    "books": (18.0, False, ["novel", "cookbook", "guide", "biography", "atlas", "thriller"]),
    "grocery": (6.0, True, ["coffee", "tea", "pasta", "olive oil", "chocolate", "granola"]),
    "beauty": (22.0, True, ["shampoo", "serum", "lotion", "lipstick", "perfume", "soap"]),
    "fashion": (45.0, False, ["jacket", "sneakers", "scarf", "jeans", "dress", "backpack"]),
    "home": (60.0, False, ["lamp", "rug", "pillow", "vase", "blanket", "mirror"]),
    "sports": (55.0, False, ["yoga mat", "dumbbell", "tent", "bottle", "racket", "helmet"]),
    "toys": (25.0, False, ["puzzle", "robot", "doll", "board game", "kite", "blocks"]),
    "garden": (35.0, False, ["hose", "planter", "seeds", "shears", "gloves", "lantern"]),
    "pets": (15.0, True, ["dog food", "cat litter", "leash", "chew toy", "bowl", "treats"]),
}
ADJECTIVES = [
    "classic",
    "premium",
    "eco",
    "compact",
    "deluxe",
    "smart",
    "vintage",
    "urban",
    "soft",
    "pro",
    "organic",
    "wireless",
    "handmade",
    "travel",
    "family",
    "mini",
]
COLORS = ["black", "white", "red", "blue", "green", "grey", "oak", "gold"]
REGIONS = ["north", "south", "east", "west", "central"]
TIERS = ["basic", "silver", "gold"]
END = pd.Timestamp("2026-06-30T23:59:59Z")
DAYS = 180
CHUNK_USERS = 50_000  # users generated together; bounds the generator's memory whatever the shop's size


@dataclass
class Shop:
    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


def _items(rng: np.random.Generator, n_items: int) -> pd.DataFrame:
    cat_names = list(CATEGORIES)
    cat = rng.integers(0, len(cat_names), n_items)
    brand_no = rng.integers(0, 6, n_items)
    adj = rng.integers(0, len(ADJECTIVES), n_items)
    noun_no = rng.integers(0, 6, n_items)
    color = rng.integers(0, len(COLORS), n_items)
    mean_price = np.array([CATEGORIES[c][0] for c in cat_names])[cat]
    price = np.round(mean_price * rng.lognormal(0, 0.5, n_items), 2)
    rows = []
    for i in range(n_items):
        c = cat_names[cat[i]]
        noun = CATEGORIES[c][2][noun_no[i]]
        brand = f"{c[:3].title()}{'ABCDEF'[brand_no[i]]}"
        title = f"{ADJECTIVES[adj[i]].title()} {COLORS[color[i]]} {noun}"
        rows.append(
            (
                f"I{i:06d}",
                title,
                c,
                brand,
                f"A {ADJECTIVES[adj[i]]} {noun} by {brand}, {COLORS[color[i]]}.",
                f"{ADJECTIVES[adj[i]]}|{COLORS[color[i]]}|{noun.replace(' ', '-')}",
            )
        )
    items = pd.DataFrame(rows, columns=[C.ITEM_ID, C.TITLE, C.CATEGORY, C.BRAND, C.DESCRIPTION, C.TAGS])
    items[C.PRICE] = price
    items[C.AVAILABLE] = rng.random(n_items) > 0.03
    return items


@dataclass
class _Catalog:
    """The items and their latent traits, shared by every chunk of users."""

    items: pd.DataFrame
    cat_of: np.ndarray
    is_new: np.ndarray
    item_pop: np.ndarray
    item_quality: np.ndarray
    brand_of: np.ndarray
    n_brands: int


def _catalog(rng: np.random.Generator, n_items: int) -> _Catalog:
    items = _items(rng, n_items)
    cat_of = pd.Categorical(items[C.CATEGORY], categories=list(CATEGORIES)).codes
    # The newest 5% of items have no history yet: only content can recommend them.
    is_new = np.zeros(n_items, dtype=bool)
    is_new[rng.choice(n_items, max(1, n_items // 20), replace=False)] = True
    item_pop = rng.pareto(1.2, n_items) + 1.0
    item_pop[is_new] = 0.0
    item_quality = rng.normal(0, 1, n_items)  # latent appeal once seen: drives conversion
    brand_of = pd.factorize(items[C.BRAND])[0]
    return _Catalog(items, cat_of, is_new, item_pop, item_quality, brand_of, int(brand_of.max() + 1))


def _user_ids(first: int, n: int) -> list[str]:
    return [f"U{k:07d}" for k in range(first, first + n)]


def _chunk(cat: _Catalog, rng: np.random.Generator, first: int, n_users: int, events_per_user: float) -> Shop:
    """Events and attributes of users first..first+n_users-1 (independent of every other chunk)."""
    cat_names = list(CATEGORIES)
    n_cat = len(cat_names)
    cat_of, item_pop, is_new, brand_of = cat.cat_of, cat.item_pop, cat.is_new, cat.brand_of
    taste = rng.dirichlet(np.full(n_cat, 0.3), n_users)  # few favourite categories per user
    brand_taste = rng.normal(0, 1, (n_users, cat.n_brands)).astype(np.float32)
    price_sens = rng.uniform(0, 1, n_users)
    activity = rng.lognormal(0, 1.0, n_users)
    # Mean activity of the lognormal(0, 1) (e^0.5), not of the chunk: chunks stay comparable.
    counts = np.maximum(rng.poisson(events_per_user * activity / np.exp(0.5)), 1)
    n_views = int(counts.sum())
    user_of = np.repeat(np.arange(n_users), counts)

    # Category by taste, item within category by popularity, then a brand-taste re-draw.
    cum = np.cumsum(taste, axis=1)
    cat_ev = (rng.random(n_views)[:, None] < cum[user_of]).argmax(axis=1)
    item_ev = np.empty(n_views, dtype=np.int64)
    for c in range(n_cat):
        pool = np.flatnonzero((cat_of == c) & ~is_new)
        sel = np.flatnonzero(cat_ev == c)
        if len(pool) == 0:
            pool = np.flatnonzero(~is_new)
        cdf = np.cumsum(item_pop[pool])
        cdf /= cdf[-1]
        first_pick = pool[np.searchsorted(cdf, rng.random(len(sel)))]
        second = pool[np.searchsorted(cdf, rng.random(len(sel)))]
        prefer_second = brand_taste[user_of[sel], brand_of[second]] > brand_taste[user_of[sel], brand_of[first_pick]]
        item_ev[sel] = np.where(prefer_second, second, first_pick)

    # Funnel: conversion grows with brand taste and item quality, falls with price for sensitive users.
    price = cat.items[C.PRICE].to_numpy()
    rel_price = np.log(price[item_ev] / np.array([CATEGORIES[c][0] for c in cat_names])[cat_of[item_ev]])
    logit = (
        -1.2
        + 0.8 * brand_taste[user_of, brand_of[item_ev]]
        + 0.6 * cat.item_quality[item_ev]
        - 1.5 * price_sens[user_of] * rel_price
    )
    p_cart = 1 / (1 + np.exp(-logit))
    carted = rng.random(n_views) < 0.5 * p_cart
    bought = carted & (rng.random(n_views) < 0.6)

    start = END - pd.Timedelta(days=DAYS)
    user_start = rng.uniform(0, DAYS * 0.8, n_users)
    t_view = user_start[user_of] + rng.uniform(0, 1, n_views) * (DAYS - user_start[user_of])
    t_view_s = t_view * 86400.0
    parts_u = [user_of, user_of[carted], user_of[bought]]
    parts_i = [item_ev, item_ev[carted], item_ev[bought]]
    parts_t = [
        t_view_s,
        t_view_s[carted] + rng.uniform(30, 900, carted.sum()),
        t_view_s[bought] + rng.uniform(960, 3600, bought.sum()),
    ]
    parts_e = [np.zeros(n_views, np.int8), np.ones(carted.sum(), np.int8), np.full(bought.sum(), 2, np.int8)]
    # Consumables are bought again a few weeks later.
    consumable = np.array([CATEGORIES[c][1] for c in cat_names])[cat_of[item_ev[bought]]]
    t_rep = t_view_s[bought] + rng.uniform(14, 45, bought.sum()) * 86400
    rep = consumable & (rng.random(bought.sum()) < 0.5) & (t_rep < DAYS * 86400)
    parts_u.append(user_of[bought][rep])
    parts_i.append(item_ev[bought][rep])
    parts_t.append(t_rep[rep])
    parts_e.append(np.full(rep.sum(), 2, np.int8))

    u = np.concatenate(parts_u)
    i = np.concatenate(parts_i)
    t = np.minimum(np.concatenate(parts_t), DAYS * 86400 - 1)
    e = np.concatenate(parts_e)
    order = np.argsort(t, kind="stable")
    event_names = np.array([C.VIEW, C.CART, C.PURCHASE], dtype=object)
    qty = np.where(e[order] == 2, rng.choice([1, 1, 1, 1, 2, 3], len(order)), 1)
    unit = np.round(price[i[order]] * rng.choice([1.0, 1.0, 1.0, 0.9, 0.8], len(order)), 2)
    ids = _user_ids(first, n_users)
    events = pd.DataFrame(
        {
            C.USER_ID: pd.Categorical.from_codes(u[order], ids),
            C.ITEM_ID: pd.Categorical.from_codes(i[order], cat.items[C.ITEM_ID].to_numpy()),
            C.EVENT: event_names[e[order]],
            C.TIMESTAMP: start + pd.to_timedelta(np.round(t[order]), unit="s"),
            C.QUANTITY: qty,
            C.PRICE: np.where(e[order] == 2, unit, np.nan),
        }
    )
    users = pd.DataFrame(
        {
            C.USER_ID: ids,
            "region": np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), n_users)],
            "tier": np.array(TIERS, dtype=object)[np.minimum(2, (activity > 1.5).astype(int) + (activity > 4))],
            "signup_date": (start + pd.to_timedelta(user_start, unit="D")).strftime("%Y-%m-%d"),
        }
    )
    return Shop(events=events, items=cat.items, users=users)


def _ending(shop: Shop, end: pd.Timestamp | None) -> Shop:
    """The same shop moved in time so that its history ends at `end` instead of END (the demo ends it now,
    so live events stamped now continue the history rather than coming months after it)."""
    if end is None:
        return shop
    shift = end - END
    events = shop.events.assign(**{C.TIMESTAMP: shop.events[C.TIMESTAMP] + shift})
    signup = (pd.to_datetime(shop.users["signup_date"], utc=True) + shift).dt.strftime("%Y-%m-%d")
    return Shop(events=events, items=shop.items, users=shop.users.assign(signup_date=signup))


def _chunks(
    n_users: int,
    n_items: int,
    seed: int,
    events_per_user: float,
    chunk_users: int = CHUNK_USERS,
    end: pd.Timestamp | None = None,
) -> Iterator[Shop]:
    """The shop in chunks of users; the same seed gives the same shop whatever reads it."""
    if n_users < 1 or n_items < 10:
        raise ValueError("need at least 1 user and 10 items")
    items_seq, *chunk_seqs = np.random.SeedSequence(seed).spawn(1 + -(-n_users // chunk_users))
    cat = _catalog(np.random.default_rng(items_seq), n_items)
    for k, seq in enumerate(chunk_seqs):
        first = k * chunk_users
        part = _chunk(cat, np.random.default_rng(seq), first, min(chunk_users, n_users - first), events_per_user)
        yield _ending(part, end)


def generate(
    n_users: int, n_items: int, seed: int = 42, events_per_user: float = 30.0, end: pd.Timestamp | None = None
) -> Shop:
    """Generate the whole shop in memory; about `events_per_user` events per user on average (heavy-tailed),
    the history ending at `end` (default END)."""
    parts = list(_chunks(n_users, n_items, seed, events_per_user, end=end))
    events = pd.concat([p.events.astype({C.USER_ID: object, C.ITEM_ID: object}) for p in parts], ignore_index=True)
    events = events.sort_values(C.TIMESTAMP, kind="stable", ignore_index=True)
    users = pd.concat([p.users for p in parts], ignore_index=True)
    return Shop(events=events, items=parts[0].items, users=users)


def _events_table(events: pd.DataFrame, fmt: str = "csv") -> pa.Table:
    """Events as written: times as ISO text in CSV and as a UTC timestamp column in Parquet (as a
    warehouse export types it)."""
    table = pa.Table.from_pandas(events, preserve_index=False)
    if fmt == "parquet":
        ts = pc.cast(table.column(C.TIMESTAMP), pa.timestamp("us", tz="UTC"), safe=False)
    else:
        ts = pc.strftime(table.column(C.TIMESTAMP), format="%Y-%m-%dT%H:%M:%SZ")
    table = table.set_column(table.schema.get_field_index(C.TIMESTAMP), C.TIMESTAMP, ts)
    return table.cast(
        pa.schema([pa.field(f.name, pa.string() if f.name in (C.USER_ID, C.ITEM_ID) else f.type) for f in table.schema])
    )


def write_streaming(
    out: str | Path,
    n_users: int,
    n_items: int,
    seed: int = 42,
    events_per_user: float = 30.0,
    fmt: str = "parquet",
    chunk_users: int = CHUNK_USERS,
    end: pd.Timestamp | None = None,
) -> dict[str, int]:
    """Generate and write the shop chunk by chunk (a few hundred MB at most, whatever its size): the same
    shop `generate` + `write` would write, but events are ordered by time within each chunk of users."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, object] = {}
    counts = {"events": 0, "users": 0, "items": 0}
    try:
        for part in _chunks(n_users, n_items, seed, events_per_user, chunk_users, end):
            users = pa.Table.from_pandas(part.users, preserve_index=False)
            for name, table in (("events", _events_table(part.events, fmt)), ("users", users)):
                if name not in writers:
                    path = out / f"{name}.{fmt}"
                    writers[name] = (
                        pq.ParquetWriter(path, table.schema)
                        if fmt == "parquet"
                        else pacsv.CSVWriter(path, table.schema)
                    )
                writers[name].write_table(table)
                counts[name] += table.num_rows
            items = part.items
    finally:
        for w in writers.values():
            w.close()
    _write_table(pa.Table.from_pandas(items, preserve_index=False), out / f"items.{fmt}", fmt)
    counts["items"] = len(items)
    return counts


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def write(shop: Shop, out: str | Path, fmt: str = "csv") -> dict[str, str]:
    """Write events, items and users files in the contract (csv or parquet)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("events", _events_table(shop.events, fmt)), ("items", shop.items), ("users", shop.users)):
        t = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        path = out / f"{name}.{fmt}"
        _write_table(t, path, fmt)
        paths[name] = str(path)
    return paths
