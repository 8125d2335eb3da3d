"""The offer catalog file (JSON or YAML): schema and validation.

The whole file is rejected, before any training, with a message naming the offer and the field,
so a bad catalog never reaches Redis.

    holdout_pct: 10            # optional, 0..50, share of each audience kept as a control group
    max_offers_per_user: 3     # optional, >= 1
    offers:
      - offer_id: vip-early            # required, unique, [A-Za-z0-9._-]{1,64}
        title: Early access            # required
        target:                        # required; every given criterion must hold (lists: any of)
          segments: [champions, loyal]       # RFM group names or segment ids (rfm.champions)
          clusters: [high-value electronics] # cluster names or ids
          lifecycle_stages: [active, new]
          min_clv: 100                       # expected 365-day value at least this
          categories: [electronics]          # the user has interacted with these categories
        items: [I000001, I000002]      # optional: items it promotes
        category: electronics          # optional: category it promotes
        discount_pct: 15               # 0..100
        cost_per_send: 0.02            # >= 0
        cost_per_redemption: 3.5       # >= 0
        budget: 500                    # > 0, in the same currency
        max_per_user: 1                # optional, >= 1
        elasticity: 2.0                # optional, >= 0: redemption lift per 100% discount
        valid_from: 2026-06-01         # ISO date or time
        valid_to: 2026-07-31
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from training.config_files import read_structured
from training.errors import TrainingError

OFFER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TARGET_KEYS = {"segments", "clusters", "lifecycle_stages", "min_clv", "categories"}
OFFER_KEYS = {
    "offer_id",
    "title",
    "target",
    "items",
    "category",
    "discount_pct",
    "cost_per_send",
    "cost_per_redemption",
    "budget",
    "max_per_user",
    "elasticity",
    "valid_from",
    "valid_to",
}
REQUIRED = (
    "offer_id",
    "title",
    "target",
    "discount_pct",
    "cost_per_send",
    "cost_per_redemption",
    "budget",
    "valid_from",
    "valid_to",
)


class OfferCatalogError(TrainingError):
    exit_code = 2


@dataclass(frozen=True)
class Target:
    segments: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    lifecycle_stages: tuple[str, ...] = ()
    min_clv: float | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Offer:
    offer_id: str
    title: str
    target: Target
    discount_pct: float
    cost_per_send: float
    cost_per_redemption: float
    budget: float
    valid_from: pd.Timestamp
    valid_to: pd.Timestamp
    items: tuple[str, ...] = ()
    category: str | None = None
    max_per_user: int = 1
    elasticity: float = 2.0

    def to_public(self) -> dict:
        return {
            "offer_id": self.offer_id,
            "title": self.title,
            "discount_pct": self.discount_pct,
            "budget": self.budget,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "category": self.category,
            "items": list(self.items),
        }


@dataclass(frozen=True)
class OfferCatalog:
    offers: tuple[Offer, ...]
    holdout_pct: float = 10.0
    max_offers_per_user: int = 3
    source: str = ""
    extra: dict = field(default_factory=dict)


def _fail(path: str, where: str, message: str) -> OfferCatalogError:
    return OfferCatalogError(f"{path}: {where}: {message}")


def _number(
    value: object, path: str, where: str, low: float | None = None, high: float | None = None, strict_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, where, f"must be a number, got {value!r}")
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise _fail(path, where, "must be finite")
    if low is not None and (v <= low if strict_low else v < low):
        raise _fail(path, where, f"must be {'>' if strict_low else '>='} {low:g}, got {v:g}")
    if high is not None and v > high:
        raise _fail(path, where, f"must be <= {high:g}, got {v:g}")
    return v


def _strings(value: object, path: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise _fail(path, where, "must be a list of non-empty strings")
    return tuple(x.strip() for x in value)


def _time(value: object, path: str, where: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(str(value))
    except ValueError:
        raise _fail(path, where, f"not an ISO date or time: {value!r}") from None
    if ts is pd.NaT:
        raise _fail(path, where, f"not an ISO date or time: {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _target(raw: object, path: str, where: str) -> Target:
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, where, "must be an object with at least one of " + ", ".join(sorted(TARGET_KEYS)))
    unknown = set(raw) - TARGET_KEYS
    if unknown:
        raise _fail(
            path, f"{where}.{sorted(unknown)[0]}", "unknown target field (use " + ", ".join(sorted(TARGET_KEYS)) + ")"
        )
    return Target(
        segments=_strings(raw["segments"], path, f"{where}.segments") if "segments" in raw else (),
        clusters=_strings(raw["clusters"], path, f"{where}.clusters") if "clusters" in raw else (),
        lifecycle_stages=_strings(raw["lifecycle_stages"], path, f"{where}.lifecycle_stages")
        if "lifecycle_stages" in raw
        else (),
        min_clv=_number(raw["min_clv"], path, f"{where}.min_clv", 0) if "min_clv" in raw else None,
        categories=_strings(raw["categories"], path, f"{where}.categories") if "categories" in raw else (),
    )


def _offer(raw: object, path: str, index: int) -> Offer:
    if not isinstance(raw, dict):
        raise _fail(path, f"offers[{index}]", "must be an object")
    oid = raw.get("offer_id")
    name = f"offer '{oid}'" if isinstance(oid, str) and oid else f"offers[{index}]"
    for key in REQUIRED:
        if key not in raw:
            raise _fail(path, f"{name}, field '{key}'", "is required")
    unknown = set(raw) - OFFER_KEYS
    if unknown:
        raise _fail(path, f"{name}, field '{sorted(unknown)[0]}'", "unknown field")
    if not isinstance(oid, str) or not OFFER_ID.match(oid):
        raise _fail(path, f"{name}, field 'offer_id'", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
    if not isinstance(raw["title"], str) or not raw["title"].strip():
        raise _fail(path, f"{name}, field 'title'", "must be a non-empty string")

    def f(key: str) -> str:
        return f"{name}, field '{key}'"

    valid_from, valid_to = _time(raw["valid_from"], path, f("valid_from")), _time(raw["valid_to"], path, f("valid_to"))
    if valid_to < valid_from:
        raise _fail(path, f("valid_to"), "must not be before valid_from")
    category = raw.get("category")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise _fail(path, f("category"), "must be a non-empty string")
    max_per_user = raw.get("max_per_user", 1)
    if isinstance(max_per_user, bool) or not isinstance(max_per_user, int) or max_per_user < 1:
        raise _fail(path, f("max_per_user"), f"must be an integer >= 1, got {max_per_user!r}")
    return Offer(
        offer_id=oid,
        title=raw["title"].strip(),
        target=_target(raw["target"], path, f("target")),
        discount_pct=_number(raw["discount_pct"], path, f("discount_pct"), 0, 100),
        cost_per_send=_number(raw["cost_per_send"], path, f("cost_per_send"), 0),
        cost_per_redemption=_number(raw["cost_per_redemption"], path, f("cost_per_redemption"), 0),
        budget=_number(raw["budget"], path, f("budget"), 0, strict_low=True),
        valid_from=valid_from,
        valid_to=valid_to,
        items=_strings(raw["items"], path, f("items")) if "items" in raw else (),
        category=category.strip() if category else None,
        max_per_user=max_per_user,
        elasticity=_number(raw.get("elasticity", 2.0), path, f("elasticity"), 0),
    )


def parse(data: object, source: str = "offers") -> OfferCatalog:
    if not isinstance(data, dict):
        raise _fail(source, "top level", "must be an object with an 'offers' list")
    unknown = set(data) - {"offers", "holdout_pct", "max_offers_per_user"}
    if unknown:
        raise _fail(source, f"field '{sorted(unknown)[0]}'", "unknown top-level field")
    offers_raw = data.get("offers")
    if not isinstance(offers_raw, list) or not offers_raw:
        raise _fail(source, "field 'offers'", "must be a non-empty list")
    offers = [_offer(o, source, i) for i, o in enumerate(offers_raw)]
    seen: set[str] = set()
    for o in offers:
        if o.offer_id in seen:
            raise _fail(source, f"offer '{o.offer_id}', field 'offer_id'", "is used by more than one offer")
        seen.add(o.offer_id)
    holdout = _number(data.get("holdout_pct", 10), source, "field 'holdout_pct'", 0, 50)
    cap = data.get("max_offers_per_user", 3)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise _fail(source, "field 'max_offers_per_user'", f"must be an integer >= 1, got {cap!r}")
    return OfferCatalog(tuple(offers), holdout, cap, source)


def load(path: str | Path) -> OfferCatalog:
    return parse(read_structured(path, OfferCatalogError), str(path))
