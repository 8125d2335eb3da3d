"""Helpers of the privacy tests: a synthetic shop whose customers carry distinctive ids, and a SCAN of the
whole of Redis for every key or value that contains an id."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import redis

# Distinctive ids: no other key, value or number can contain them by chance.
ERASED = "zq-erase-7Hf3"
NO_PROFILING = "zq-noprof-2Kd8"
NO_MARKETING = "zq-nomark-9Px1"
OFFERS_YAML = """
holdout_pct: 20
max_offers_per_user: 2
offers:
  - offer_id: everyone
    title: Ten percent off
    target: {min_clv: 0}
    discount_pct: 10
    cost_per_send: 0.001
    cost_per_redemption: 0.01
    budget: 100000
    valid_from: 2020-01-01
    valid_to: 2100-01-01
"""
EXPERIMENTS_YAML = """
experiments:
  - experiment_id: home-recs
    variants:
      - {name: control, model: current, traffic: 50}
      - {name: treatment, model: current, traffic: 50}
    start: 2020-01-01
    end: 2100-01-01
    primary_metric: ctr
    min_users_per_variant: 50
"""


def lapsed_buyers(events: pd.DataFrame, n: int) -> list[str]:
    """Repeat buyers whose last purchase is longest ago: they have lists, profiles, every segment kind, and
    win-back offers pay off for them (loyal recent buyers would buy anyway)."""
    bought = events[events["event"] == "purchase"]
    per_user = bought.groupby("user_id")["timestamp"].agg(["count", "max"])
    repeat = per_user[per_user["count"] >= 3].sort_values(["max", "count"], kind="stable")
    return repeat.index[:n].tolist()


def make_shop(out: Path, users: int = 300, items: int = 120, seed: int = 11, renamed: tuple[str, ...] = ()) -> Path:
    """A synthetic shop whose lapsed buyers are renamed to `renamed` (in events and the users file)."""
    from training.datasets.synthetic import generate, write

    write(generate(users, items, seed=seed), out)
    events = pd.read_csv(out / "events.csv", dtype=str, keep_default_na=False)
    mapping = dict(zip(lapsed_buyers(events, len(renamed)), renamed))
    events["user_id"] = events["user_id"].replace(mapping)
    events.to_csv(out / "events.csv", index=False)
    people = pd.read_csv(out / "users.csv", dtype=str, keep_default_na=False)
    people["user_id"] = people["user_id"].replace(mapping)
    people.to_csv(out / "users.csv", index=False)
    return out


def offers_file(folder: Path) -> Path:
    path = folder / "offers.yaml"
    path.write_text(OFFERS_YAML)
    return path


def experiments_file(folder: Path) -> Path:
    path = folder / "experiments.yaml"
    path.write_text(EXPERIMENTS_YAML)
    return path


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key) or b""]
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return client.zrange(key, 0, -1)
    if kind == b"hash":
        return [x for pair in client.hgetall(key).items() for x in pair]
    if kind == b"stream":
        return [x for _, fields in client.xrange(key) for pair in fields.items() for x in pair]
    return []


def traces(client: redis.Redis, needle: str) -> list[str]:
    """Every key whose name or content (members, fields, values, stream entries) contains `needle`."""
    raw = needle.encode()
    found = []
    for key in client.scan_iter(count=1000):
        if raw in key:
            found.append(key.decode())
        elif any(raw in v for v in _values(client, key)):
            found.append(f"{key.decode()} (value)")
    return sorted(found)


def all_keys(client: redis.Redis) -> set[str]:
    return {k.decode() for k in client.scan_iter(count=1000)}
