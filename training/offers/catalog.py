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
        max_per_user: 1                # optional, >= 1: how many of this offer's sends a customer may get
        elasticity: 2.0                # optional, >= 0: redemption lift per 100% discount
        valid_from: 2026-06-01         # ISO date or time
        valid_to: 2026-07-31
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.timestamps import parse_instant
from contract.validation import Count, Location, Number, Text, first_error
from training.data.config_files import read_structured
from training.failures import TrainingError

OFFER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TARGET_KEYS = ("categories", "clusters", "lifecycle_stages", "min_clv", "segments")


class OfferCatalogError(TrainingError):
    exit_code = 2


def _when(value: object) -> pd.Timestamp:
    try:
        return pd.Timestamp(parse_instant(value))
    except ValueError:
        raise ValueError(f"not an ISO date or time: {value!r}") from None


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise ValueError("must be a list of non-empty strings")
    return tuple(x.strip() for x in value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Target(_Strict):
    """Every given criterion must hold (lists: any of)."""

    segments: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    lifecycle_stages: tuple[str, ...] = ()
    min_clv: Annotated[Number, Field(ge=0)] | None = None
    categories: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, raw: object) -> object:
        if not isinstance(raw, dict) or not raw:
            raise ValueError("must be an object with at least one of " + ", ".join(TARGET_KEYS))
        unknown = sorted(set(raw) - set(TARGET_KEYS))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown target field (use {', '.join(TARGET_KEYS)})")
        return raw

    _lists = field_validator("segments", "clusters", "lifecycle_stages", "categories", mode="before")(
        classmethod(lambda cls, v: _names(v))
    )


class Offer(_Strict):
    offer_id: str
    title: Text
    target: Target
    discount_pct: Annotated[Number, Field(ge=0, le=100)]
    cost_per_send: Annotated[Number, Field(ge=0)]
    cost_per_redemption: Annotated[Number, Field(ge=0)]
    budget: Annotated[Number, Field(gt=0)]
    valid_from: pd.Timestamp
    valid_to: pd.Timestamp
    items: tuple[str, ...] = ()
    category: Text | None = None
    max_per_user: Count = 1
    elasticity: Annotated[Number, Field(ge=0)] = 2.0

    @field_validator("offer_id", mode="before")
    @classmethod
    def _id(cls, value: object) -> str:
        if not isinstance(value, str) or not OFFER_ID.match(value):
            raise ValueError("must be 1-64 characters of letters, digits, '.', '_' or '-'")
        return value

    _times = field_validator("valid_from", "valid_to", mode="before")(classmethod(lambda cls, v: _when(v)))
    _items = field_validator("items", mode="before")(classmethod(lambda cls, v: _names(v)))

    @field_validator("valid_to")
    @classmethod
    def _after_start(cls, value: pd.Timestamp, info) -> pd.Timestamp:
        start = info.data.get("valid_from")
        if start is not None and value < start:
            raise ValueError("must not be before valid_from")
        return value

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


class OfferCatalog(_Strict):
    offers: tuple[Offer, ...]
    holdout_pct: Annotated[Number, Field(ge=0, le=50)] = 10.0
    max_offers_per_user: Count = 3

    @field_validator("offers", mode="before")
    @classmethod
    def _non_empty(cls, value: object) -> object:
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list")
        return value

    @field_validator("offers")
    @classmethod
    def _unique(cls, offers: tuple[Offer, ...]) -> tuple[Offer, ...]:
        seen: set[str] = set()
        for o in offers:
            if o.offer_id in seen:
                raise ValueError(f"offer '{o.offer_id}', field 'offer_id': is used by more than one offer")
            seen.add(o.offer_id)
        return offers


def _where(loc: Location, data: object) -> str:
    """offer 'vip', field 'budget' / offer 'vip', field 'target'.segments / field 'holdout_pct'"""
    if not loc:
        return "top level"
    if loc[0] == "offers" and len(loc) >= 2 and isinstance(loc[1], int):
        raw = data["offers"][loc[1]] if isinstance(data, dict) else None
        oid = raw.get("offer_id") if isinstance(raw, dict) else None
        name = f"offer '{oid}'" if isinstance(oid, str) and oid else f"offers[{loc[1]}]"
        rest = loc[2:]
        if not rest:
            return name
        return f"{name}, field '{rest[0]}'" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest[1:])
    return f"field '{loc[0]}'"


def parse(data: object, source: str = "offers") -> OfferCatalog:
    if not isinstance(data, dict):
        raise OfferCatalogError(f"{source}: top level: must be an object with an 'offers' list")
    try:
        return OfferCatalog.model_validate(data)
    except ValidationError as exc:
        loc, message = first_error(exc)
        if message.startswith("offer '"):  # a whole-catalog check that names its offer itself
            raise OfferCatalogError(f"{source}: {message}") from None
        if loc and loc[-1] == "target" and ": unknown target field" in message:
            field, _, message = message.partition(": ")
            loc = (*loc, field)
        raise OfferCatalogError(f"{source}: {_where(loc, data)}: {message}") from None


def load(path: str | Path) -> OfferCatalog:
    return parse(read_structured(path, OfferCatalogError), str(path))
