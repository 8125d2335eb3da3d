"""Business rules: what a rules file (`training run --rules`) and `PUT /v1/rules` may say, validated whole.

One schema for both, so the file a version is published with and a live edit are read the same way, and
a problem is worded the same way: `rule 'summer' (rules[2]), field 'weight': must be > 0, got -1`.
How the service applies a rule set is in recsvc/logic/rules.py and docs/merchandising.md; the scoring
that the offline margin evaluation must share with it (`relevance`, `margin_scale`) is here.

A rule touches the items its `match` selects: every given criterion must hold (items, categories,
brands and tags each match any listed value; price and margin are ranges). `segments` and `lifecycle`
restrict a rule to some users (empty: everyone), `lists` to some endpoints (empty: every list).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.validation import Count, Number, bounded_text, dotted, first_error

MAX_RULES = 200
MAX_VALUES = 10_000  # items, categories, brands or tags listed by one rule
MAX_WEIGHT = 10.0
LISTS = ("recommendations", "similar", "popular", "trending", "new_arrivals", "bought_together", "cart")
LIFECYCLE_STAGES = ("prospect", "new", "active", "at_risk", "churned")
ListName = Literal["recommendations", "similar", "popular", "trending", "new_arrivals", "bought_together", "cart"]
Id = bounded_text(256)
Weight = Annotated[Number, Field(gt=0, le=MAX_WEIGHT)]
Values = Annotated[list[Id], Field(max_length=MAX_VALUES)]


class RulesError(ValueError):
    """A rule set that cannot be used; the message names the rule and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Match(_Strict):
    items: Values = []
    categories: Values = []
    brands: Values = []
    tags: Values = []
    price: Range | None = None
    margin: Range | None = None

    @model_validator(mode="after")
    def _something(self) -> Match:
        if not (self.items or self.categories or self.brands or self.tags or self.price or self.margin):
            raise ValueError("must name items, categories, brands, tags, a price or a margin range")
        return self


class _Rule(_Strict):
    id: Id
    description: Annotated[str, Field(max_length=1000)] = ""
    enabled: bool = True
    segments: Annotated[list[Id], Field(max_length=100)] = []  # segment ids as in /v1/segments
    lifecycle: list[Literal["prospect", "new", "active", "at_risk", "churned"]] = []
    lists: list[ListName] = []

    def audience(self) -> frozenset[str]:
        """Segment ids of the users the rule is for; empty: everyone."""
        # segment ids spell a stage with hyphens (lifecycle.at-risk), as training/segments/profiles.py does
        return frozenset(self.segments) | frozenset(f"lifecycle.{s.replace('_', '-')}" for s in self.lifecycle)

    def applies_to(self, list_name: str) -> bool:
        return not self.lists or list_name in self.lists


class Boost(_Rule):
    type: Literal["boost"]
    match: Match
    weight: Weight


class Bury(_Rule):
    type: Literal["bury"]
    match: Match
    weight: Weight


class Pin(_Rule):
    type: Literal["pin"]
    item: Id
    position: Annotated[int, Field(ge=1, le=100, strict=True)]


class Exclude(_Rule):
    type: Literal["exclude"]
    match: Match


class Promote(_Rule):
    """Boost matching items, but let them fill at most `max_share` percent of a list's slots."""

    type: Literal["promote"]
    match: Match
    max_share: Annotated[Number, Field(gt=0, le=100)]
    weight: Weight = 1.0


class Diversity(_Rule):
    """At most `max_per_category` items of one category among the first `top_k`."""

    type: Literal["diversity"]
    max_per_category: Count
    top_k: Annotated[Count, Field(le=100)] = 10


class Margin(_Rule):
    """Trade relevance for expected margin: score = relevance + weight x normalised margin."""

    type: Literal["margin"]
    weight: Weight


Rule = Annotated[Boost | Bury | Pin | Exclude | Promote | Diversity | Margin, Field(discriminator="type")]


class RuleSet(_Strict):
    rules: Annotated[list[Rule], Field(max_length=MAX_RULES)] = []

    def active(self) -> list[Any]:
        return [r for r in self.rules if r.enabled]


class StoredRules(_Strict):
    """The active rule set as Redis holds it (keys.RULES): where it came from and when."""

    rules: list[Rule] = []
    source: str = ""
    updated_at: float = 0.0

    def rule_set(self) -> RuleSet:
        return RuleSet(rules=self.rules)


def _rule_name(raw: object, index: int) -> str:
    rid = raw[index].get("id") if isinstance(raw, list) and isinstance(raw[index], dict) else None
    return f"rule '{rid}' (rules[{index}])" if isinstance(rid, str) and rid.strip() else f"rules[{index}]"


def _describe(raw_rules: object, loc: tuple, message: str) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rule = _rule_name(raw_rules, loc[1])
        rest = [p for p in loc[2:] if p not in LIST_TAGS]  # pydantic puts the union's tag in the location
        return f"{rule}, field '{dotted(tuple(rest))}': {message}" if rest else f"{rule}: {message}"
    return f"field '{dotted(loc)}': {message}" if loc else message


LIST_TAGS = {"boost", "bury", "pin", "exclude", "promote", "diversity", "margin"}


def parse_rules(data: object) -> RuleSet:
    """A validated rule set from parsed JSON/YAML (`{"rules": [...]}`); RulesError names rule and field."""
    if not isinstance(data, dict):
        raise RulesError('a rule set is an object: {"rules": [...]}')
    raw_rules = data.get("rules")
    if isinstance(raw_rules, list):
        for k, rule in enumerate(raw_rules):
            if isinstance(rule, dict) and "type" not in rule:
                raise RulesError(f"{_rule_name(raw_rules, k)}, field 'type': is required (one of {sorted(LIST_TAGS)})")
            if isinstance(rule, dict) and isinstance(rule.get("type"), str) and rule["type"] not in LIST_TAGS:
                raise RulesError(
                    f"{_rule_name(raw_rules, k)}, field 'type': must be one of {sorted(LIST_TAGS)}, got '{rule['type']}'"
                )
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        loc, message = first_error(exc)
        raise RulesError(_describe(raw_rules, loc, message)) from None
    _check_across(rules.rules)
    return rules


def _check_across(rules: Sequence[Any]) -> None:
    """What one rule cannot say about itself: unique ids, diversity caps that fit, pins that do not collide."""
    seen: dict[str, int] = {}
    pins: dict[tuple, str] = {}
    for k, rule in enumerate(rules):
        name = f"rule '{rule.id}' (rules[{k}])"
        if rule.id in seen:
            raise RulesError(f"{name}, field 'id': duplicate id (also rules[{seen[rule.id]}])")
        seen[rule.id] = k
        if isinstance(rule, Diversity) and rule.max_per_category > rule.top_k:
            raise RulesError(
                f"{name}, field 'max_per_category': must be <= top_k ({rule.top_k}), got {rule.max_per_category}"
            )
        if isinstance(rule, Pin) and rule.enabled:
            for list_name in rule.lists or LISTS:
                key = (list_name, rule.position, rule.audience())
                if key in pins:
                    raise RulesError(
                        f"{name}, field 'position': position {rule.position} of {list_name} is already pinned by "
                        f"rule '{pins[key]}'"
                    )
                pins[key] = rule.id


def encode_stored(rules: RuleSet, source: str, updated_at: float) -> bytes:
    return StoredRules(rules=rules.rules, source=source, updated_at=updated_at).model_dump_json().encode()


def decode_stored(blob: bytes | None) -> StoredRules | None:
    return None if blob is None else StoredRules.model_validate_json(blob)


def to_json_ready(rules: RuleSet | StoredRules) -> dict:
    return json.loads(rules.model_dump_json())


# -- scoring shared by the service and the offline margin evaluation -------------------------------------
def relevance(position: int, length: int) -> float:
    """A candidate's relevance from its rank: 1 at the top, falling linearly (scores of different lists and
    models are not comparable, ranks are). Rule weights add to this: 0.1 moves an item a tenth of the list."""
    return 1.0 - position / max(length, 1)


def margin_scale(margins: Sequence[float | None]) -> float:
    """The margin that counts as 1 when margins are normalised: the 95th percentile of the positive ones."""
    values = sorted(m for m in margins if m is not None and math.isfinite(m) and m > 0)
    if not values:
        return 1.0
    return values[min(len(values) - 1, int(0.95 * (len(values) - 1) + 0.5))]


def position_weights(k: int) -> list[float]:
    """How much attention each of the first k positions gets (1 / log2(position + 1), as in NDCG), summing to 1:
    the expected margin of a list is the weighted mean margin of its items."""
    raw = [1.0 / math.log2(p + 2) for p in range(k)]
    total = sum(raw)
    return [w / total for w in raw]
