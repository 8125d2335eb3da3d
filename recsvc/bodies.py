"""Request bodies of the write endpoints, validated whole before anything is stored.

A problem is a 400 that names the entry and the field (`events[3].event: must be one of ...`).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    ValidationError,
    field_validator,
)

from contract import event_rules
from contract.timestamps import unix_seconds
from contract.validation import Number, dotted, first_error
from recsvc.errors import BadRequest

MAX_ID_LENGTH = event_rules.MAX_ID_LENGTH
EVENT_TYPES = event_rules.EVENT_TYPES


def _check(problem):
    """An AfterValidator from one of contract.event_rules' `*_problem` functions."""

    def check(value):
        message = problem(value)
        if message:
            raise ValueError(message)
        return value

    return AfterValidator(check)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# the id rules read the id as sent (a tab or a 257th character is refused, not stripped away), then it is stripped
Id = Annotated[str, Strict(), _check(event_rules.id_problem), AfterValidator(str.strip)]
Quantity = Annotated[Number, _check(event_rules.quantity_problem)]
Price = Annotated[Number, _check(lambda v: event_rules.amount_problem(v, event_rules.MAX_PRICE))]
Revenue = Annotated[Number, _check(lambda v: event_rules.amount_problem(v, event_rules.MAX_REVENUE))]
EventName = Annotated[Literal["view", "cart", "purchase", "click", "impression"], BeforeValidator(_lower)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Event(_Body):
    """One live event in the event contract (see the README), under the rules of contract.event_rules."""

    user_id: Id
    item_id: Id
    event: EventName
    timestamp: float = Field(default_factory=time.time)
    quantity: Quantity = 1.0
    price: Price | None = None
    recommendation_id: Id | None = None
    order_id: Id | None = None  # the order (basket) a purchase belongs to: frequently bought together

    @field_validator("timestamp", mode="before")
    @classmethod
    def _instant(cls, value: object) -> float:
        if value is None:
            return time.time()
        try:
            ts = unix_seconds(value)
        except ValueError as exc:
            raise ValueError(f"must be ISO-8601 or unix seconds ({exc})") from None
        problem = event_rules.time_problem(ts, event_rules.LIVE_MAX_AHEAD_S)
        if problem:
            raise ValueError(f"{problem} (events must fall between {event_rules.EARLIEST_EVENT.date()} and now)")
        return ts

    def as_dict(self) -> dict:
        """The event as the store writes it (no `recommendation_id` or `order_id` key when there is none)."""
        empty = {k for k in ("recommendation_id", "order_id") if getattr(self, k) is None}
        return self.model_dump(exclude=empty or None)


class Outcome(_Body):
    user_id: Id
    sent: StrictBool = False
    redeemed: StrictBool = False
    converted: StrictBool = False
    revenue: Revenue = 0.0


def parse_entries(model: type[_Body], entries: list, where: str, code: str) -> list:
    """Each entry validated; the first bad one is a 400 naming it (`where` is "events" for events[i], or the
    name of a single entry)."""
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(model.model_validate(entry))
        except ValidationError as exc:
            loc, message = first_error(exc)
            name = f"{where}[{i}]" if where.endswith("s") else where
            raise BadRequest(f"{name}{'.' + dotted(loc) if loc else ''}: {message}", code=code) from None
    return out


class ConsentStatement(_Body):
    """PUT /v1/users/<id>/consent: both purposes, and when the customer said so (default: now)."""

    profiling: StrictBool
    marketing: StrictBool
    stated_at: float = Field(default_factory=time.time)

    _instant = field_validator("stated_at", mode="before")(Event._instant.__func__)


def parse_body(model: type[_Body], body: object, code: str) -> _Body:
    """One JSON object body validated; a 400 naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", code=code)
    return parse_entries(model, [body], "body", code)[0]
