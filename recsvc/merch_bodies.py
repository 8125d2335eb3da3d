"""Request bodies of the merchandising endpoints (live catalog, cart, rules dry run), validated whole.

A problem is a 400 that names the entry and the field (`items[3].price: must be >= 0, got -1`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from contract.validation import Number, bounded_text
from recsvc.bodies import Id

MAX_ID_LENGTH = 256
MAX_TAGS = 50
Name = bounded_text(MAX_ID_LENGTH)  # a category, brand or tag
Title = bounded_text(1000)
Stock = Annotated[int, Field(ge=0, strict=True)]
Price = Annotated[Number, Field(ge=0)]
Tags = Annotated[list[Name], Field(max_length=MAX_TAGS)]
FIELDS = ("title", "category", "brand", "tags", "price", "margin", "available", "stock")
NOT_NULL = ("title", "category", "brand", "tags", "available")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemBody(_Body):
    """PUT /v1/items/<id>: the whole item; what it leaves out is reset (no brand, no tags, available)."""

    title: Title
    category: Name
    brand: Annotated[str, Field(max_length=MAX_ID_LENGTH)] = ""
    tags: Tags = []
    price: Price | None = None
    margin: Number | None = None
    available: StrictBool = True
    stock: Stock | None = None


class ItemPatch(_Body):
    """PATCH /v1/items/<id>: only the fields given change (availability or stock, price, title, ...)."""

    title: Title | None = None
    category: Name | None = None
    brand: Annotated[str, Field(max_length=MAX_ID_LENGTH)] | None = None
    tags: Tags | None = None
    price: Price | None = None
    margin: Number | None = None
    available: StrictBool | None = None
    stock: Stock | None = None

    @model_validator(mode="after")
    def _null_only_where_it_clears(self) -> ItemPatch:
        nulls = sorted(k for k in self.model_fields_set & set(NOT_NULL) if getattr(self, k) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (only price, margin and stock can be cleared)")
        return self

    @model_validator(mode="after")
    def _something(self) -> ItemPatch:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(FIELDS)}")
        return self

    def changes(self) -> dict:
        """The fields the request set (a null price or margin clears it)."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class BulkItem(ItemPatch):
    """One entry of POST /v1/items: sets the fields it gives; an item new to the catalog needs a title and
    a category."""

    item_id: Id

    def changes(self) -> dict:
        return {k: getattr(self, k) for k in self.model_fields_set - {"item_id"}}

    @model_validator(mode="after")
    def _something(self) -> BulkItem:
        if not (self.model_fields_set - {"item_id"}):
            raise ValueError(f"give at least one of {', '.join(FIELDS)}")
        return self


class Cart(_Body):
    """POST /v1/cart/recommendations."""

    items: Annotated[list[Id], Field(min_length=1, max_length=100)]
    user_id: Id | None = None
    n: Annotated[int, Field(ge=1, le=100, strict=True)] = 10
    category: Name | None = None


class DryRun(_Body):
    """POST /v1/rules/dry-run: a user's list under the active rules and under `rules`."""

    user_id: Id
    rules: dict
    n: Annotated[int, Field(ge=1, le=100, strict=True)] = 10
    category: Name | None = None
