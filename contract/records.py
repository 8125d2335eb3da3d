"""Typed records of what crosses Redis between the training job and the service, with one codec.

Each record is a msgspec Struct encoded as a msgpack map with these field names (the wire format),
so the writer and the readers cannot disagree about a field: the training job builds records, the
service decodes them into the same types. Decoding checks the types; unknown fields are ignored, so
a reader keeps working while a newer writer adds one.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, TypeVar

import msgspec

T = TypeVar("T")

TREATMENT = "treatment"
HOLDOUT = "holdout"
AUDIENCE_GROUPS: tuple[str, str] = (TREATMENT, HOLDOUT)
STREAM_FIELD = "e"  # the field of a stream entry that holds its StreamEvent

# A user's recent event: (event type, item id, unix seconds); an impression: (item id, recommendation id, unix s).
RecentEvent = tuple[str, str, float]
Impression = tuple[str, str, float]


# -- customers ---------------------------------------------------------------------------------------------
class Rfm(msgspec.Struct):
    recency_days: float | None
    frequency: int
    monetary: float | None
    r_score: int
    f_score: int
    m_score: int


class Clv(msgspec.Struct):
    p_alive: float | None
    expected_purchases_90d: float | None
    expected_value_365d: float | None


class Profile(msgspec.Struct):
    """A customer's segments (ids by kind: rfm, cluster, lifecycle), RFM and lifetime value."""

    user_id: str
    segment_ids: dict[str, str]
    segment: str | None = None
    cluster: str | None = None
    lifecycle_stage: str | None = None
    rfm: Rfm | None = None
    clv: Clv | None = None

    def list_segment(self) -> str | None:
        """The segment whose popular items stand in for a missing personal list: RFM, else lifecycle."""
        return self.segment_ids.get("rfm") or self.segment_ids.get("lifecycle")


class Segment(msgspec.Struct):
    id: str
    name: str
    kind: str
    size: int
    description: str
    mean_clv: float | None


class Histogram(msgspec.Struct):
    edges: list[float]
    counts: list[int]


class Distributions(msgspec.Struct):
    """Histograms for the dashboard: expected 365-day value and P(alive) over customers who bought."""

    clv: Histogram | None = None
    p_alive: Histogram | None = None


# -- offers and campaigns ----------------------------------------------------------------------------------
class AssignedOffer(msgspec.Struct):
    offer_id: str
    title: str
    discount_pct: float
    expected_value: float
    items: list[str]
    valid_from: str
    valid_to: str
    max_per_user: int = 1  # how many times the customer may redeem it (for the coupon system)

    def is_valid(self, now: str) -> bool:
        return self.valid_from <= now <= self.valid_to


class UserOffers(msgspec.Struct):
    """A user's assigned offers; `holdout_offers` names the offers that hold the user back as control
    (`holdout`: at least one does; versions published before the list existed have only the flag)."""

    holdout: bool = False
    offers: list[AssignedOffer] = []
    holdout_offers: list[str] = []


class Campaign(msgspec.Struct):
    """One offer's campaign as allocated at training: audience, holdout, expected cost against budget."""

    offer_id: str
    title: str
    discount_pct: float
    budget: float
    valid_from: str
    valid_to: str
    status: str = "active"  # "expired" when it had ended at training time
    category: str | None = None
    items: list[str] = []
    eligible_users: int = 0
    candidates: int = 0
    audience_size: int = 0
    holdout_size: int = 0
    expected_cost: float = 0.0
    expected_value: float = 0.0
    per_segment: dict[str, int] = {}
    holdout_pct: float = 0.0

    def status_at(self, now: str) -> str:
        if self.status == "expired" or self.valid_to < now:
            return "expired"
        return "scheduled" if self.valid_from > now else "active"


class AudienceMember(msgspec.Struct):
    expected_value: float
    items: list[str]


class Outcome(msgspec.Struct):
    """What happened to one user of a campaign, merged over every report the email tool sends."""

    group: str
    sent: bool = False
    redeemed: bool = False
    converted: bool = False
    revenue: float = 0.0

    def merged(self, new: Outcome) -> Outcome:
        """Flags OR-ed, revenue added: reports may arrive in pieces and more than once per flag."""
        return Outcome(
            group=new.group,
            sent=self.sent or new.sent,
            redeemed=self.redeemed or new.redeemed,
            converted=self.converted or new.converted,
            revenue=self.revenue + new.revenue,
        )


# -- experiments -------------------------------------------------------------------------------------------
class Variant(msgspec.Struct):
    name: str
    model: str  # current | popularity | version:<id>
    traffic: float  # percent
    version: str | None = None  # the published version it serves (None: popularity only)


class Experiment(msgspec.Struct):
    experiment_id: str
    variants: list[Variant]
    control: str
    start: str  # ISO-8601 UTC
    end: str
    primary_metric: Literal["ctr", "conversion", "revenue_per_user"]
    attribution_window_days: float = 7.0
    min_users_per_variant: int = 1000

    def status(self, now: str) -> str:
        """running, ended or scheduled at `now` (ISO-8601 UTC)."""
        if self.start <= now <= self.end:
            return "running"
        return "ended" if self.end < now else "scheduled"

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


# -- live events -------------------------------------------------------------------------------------------
class StreamEvent(msgspec.Struct, omit_defaults=True):
    """One accepted live event as the service appends it to the event stream and export-events reads it."""

    user_id: str
    item_id: str
    event: str
    timestamp: float  # unix seconds
    quantity: float = 1.0
    price: float | None = None
    recommendation_id: str | None = None
    order_id: str | None = None  # the basket the purchase belongs to (frequently bought together)


# -- merchandising -----------------------------------------------------------------------------------------
class ItemAttributes(msgspec.Struct, omit_defaults=True):
    """What rules match on besides title and category; absent fields are unknown."""

    brand: str = ""
    tags: list[str] = []
    price: float | None = None
    margin: float | None = None
    # Median days between two purchases of the item by one customer (None: nobody bought it twice): an item
    # bought live is not recommended again before this has passed.
    repurchase_days: float | None = None


class CatalogAttributes(msgspec.Struct):
    """A version's item attributes, and how fresh its catalog was (unix seconds of the items file; live
    changes older than this are superseded by the version, see recsvc/store/catalog_overlay.py)."""

    items: dict[str, ItemAttributes] = {}
    catalog_as_of: float | None = None


class ItemChange(msgspec.Struct, omit_defaults=True):
    """One item's live change in the catalog overlay (PUT, PATCH or DELETE /v1/items): only the fields it
    sets are present. `hidden` (DELETE) holds until the item is PUT again; `created_at` is set when the
    item was new to the published catalog (the new-arrivals list)."""

    updated_at: float
    title: str | msgspec.UnsetType = msgspec.UNSET
    category: str | msgspec.UnsetType = msgspec.UNSET
    brand: str | msgspec.UnsetType = msgspec.UNSET
    tags: list[str] | msgspec.UnsetType = msgspec.UNSET
    price: float | None | msgspec.UnsetType = msgspec.UNSET
    margin: float | None | msgspec.UnsetType = msgspec.UNSET
    available: bool | msgspec.UnsetType = msgspec.UNSET
    stock: int | None | msgspec.UnsetType = msgspec.UNSET
    hidden: bool = False
    created_at: float | None = None


class BoughtTogether(msgspec.Struct):
    """An item's frequently-bought-together list, best first, with each pair's association measures:
    `baskets` with both items, confidence P(other | this), lift, and the ranking score."""

    items: list[str]
    scores: list[float]
    baskets: list[int]
    confidence: list[float]
    lift: list[float]


# -- privacy -----------------------------------------------------------------------------------------------
class Consent(msgspec.Struct):
    """A customer's latest statement on the two purposes; without one, both are allowed (see docs/privacy.md)."""

    profiling: bool = True
    marketing: bool = True
    stated_at: float = 0.0  # unix seconds of the statement: the latest one wins
    source: str = "api"  # "api" (PUT /v1/users/<id>/consent) or "users_file" (the training input)

    @property
    def allows_offers(self) -> bool:
        """Offers and audiences are chosen from profiles, so they need both purposes."""
        return self.profiling and self.marketing


class ErasureAudit(msgspec.Struct):
    """What one erasure removed, and who asked. Holds the keyed hash of the id, never the id."""

    erased_at: float  # unix seconds
    user_hash: str
    requested_by: str  # "api key #2" or "cli (login)": never the key itself
    removed: dict[str, int]
    versions: list[str]


# -- the codec ---------------------------------------------------------------------------------------------
_encoder = msgspec.msgpack.Encoder()


@cache
def _decoder(kind: Any) -> msgspec.msgpack.Decoder:
    return msgspec.msgpack.Decoder(kind)


def encode(record: object) -> bytes:
    """msgpack of a record (or a list or dict of records, or a plain value)."""
    return _encoder.encode(record)


def decode(blob: bytes | None, kind: type[T] | Any) -> T | None:
    """The record of type `kind` (e.g. Profile, list[Experiment]); None for a missing key."""
    return None if blob is None else _decoder(kind).decode(blob)


def to_json_ready(record: object) -> Any:
    """Plain dicts and lists for a JSON answer."""
    return msgspec.to_builtins(record)
