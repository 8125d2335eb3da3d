"""The rules engine on a small catalog with a known answer: order of application, caps, pins, audiences."""

from __future__ import annotations

import pytest

from contract import records
from contract.rules import StoredRules, parse_rules
from recsvc.logic.rules import apply, compile_rules, compiled_for, expected_margin
from recsvc.store import Catalog

# a0..a9 in category A, b0..b9 in B; candidate order a0, b0, a1, b1, ... (relevance falls with rank)
ITEMS = [f"{c}{k}" for k in range(10) for c in "ab"]


def catalog(unavailable: frozenset[str] = frozenset()) -> Catalog:
    items = {i: (f"title {i}", i[0].upper(), i not in unavailable) for i in ITEMS}
    available = {None: frozenset(i for i in ITEMS if i not in unavailable)}
    for c in "AB":
        available[c] = frozenset(i for i in available[None] if items[i][1] == c)
    attrs = {
        i: records.ItemAttributes(
            brand="acme" if i.endswith("7") else "other",
            tags=["sale"] if i == "b9" else [],
            price=float(int(i[1:]) * 10),
            margin=float(int(i[1:])),
        )
        for i in ITEMS
    }
    return Catalog("v1", items, frozenset("AB"), available, {i: i for i in ITEMS}, attrs, None)


CANDIDATES = [(i, round(1.0 - k / 20, 3), "because") for k, i in enumerate(ITEMS)]


def run(rules: list[dict], n: int = 10, segments: frozenset[str] = frozenset(), cat: Catalog | None = None, skip=()):
    cat = cat or catalog()
    stored = StoredRules(rules=parse_rules({"rules": rules}).rules)
    lr = compile_rules(stored, cat).for_list("recommendations")
    assert lr is not None
    pool = [c for c in CANDIDATES if c[0] in cat.available[None] and c[0] not in skip]
    return apply(lr, pool, cat, n, None, skip, segments)


def ids(entries: list[dict]) -> list[str]:
    return [e["item_id"] for e in entries]


def test_boost_and_bury_move_items_and_name_the_rule() -> None:
    out = run(
        [
            {"id": "up", "type": "boost", "match": {"items": ["b9"]}, "weight": 2.0},
            {"id": "down", "type": "bury", "match": {"categories": ["A"]}, "weight": 0.5},
        ]
    )
    assert ids(out)[0] == "b9" and out[0]["rules"] == ["up"]
    assert sum(1 for i in ids(out) if i.startswith("a")) < 5  # A items lost ground to B
    assert all(e["rules"] == ["down"] for e in out if e["item_id"].startswith("a"))
    assert all(e["rules"] == [] for e in out if e["item_id"].startswith("b") and e["item_id"] != "b9")


def test_matches_by_brand_tag_and_price_range() -> None:
    out = run([{"id": "acme", "type": "boost", "match": {"brands": ["acme"], "price": {"min": 60}}, "weight": 3}])
    assert ids(out)[:2] == ["a7", "b7"]
    out = run([{"id": "sale", "type": "boost", "match": {"tags": ["sale"]}, "weight": 3}])
    assert ids(out)[0] == "b9"


def test_exclude_only_for_the_audience() -> None:
    rule = {"id": "no-a", "type": "exclude", "match": {"categories": ["A"]}, "lifecycle": ["at_risk"]}
    assert not any(i.startswith("a") for i in ids(run([rule], segments=frozenset({"lifecycle.at-risk"}))))
    assert ids(run([rule], segments=frozenset({"lifecycle.active"}))) == ITEMS[:10]


def test_promote_share_caps_promoted_items() -> None:
    rule = {"id": "promo", "type": "promote", "match": {"categories": ["B"]}, "max_share": 30, "weight": 5}
    out = run([rule], n=10)
    promoted = [e for e in out if "promo" in e["rules"]]
    assert len(promoted) == 3  # 30% of 10 slots
    assert ids(out)[:3] == ["b0", "b1", "b2"]  # the share is filled first
    assert len(out) == 10 and len(set(ids(out))) == 10


def test_diversity_caps_a_category_in_the_top_k() -> None:
    boost = {"id": "a-up", "type": "boost", "match": {"categories": ["A"]}, "weight": 5}
    cap = {"id": "cap", "type": "diversity", "max_per_category": 2, "top_k": 4}
    out = run([boost, cap], n=10)
    assert ids(out)[:4] == ["a0", "a1", "b0", "b1"]
    assert ids(out)[4:6] == ["a2", "a3"]  # held back items come right after the window
    # with two categories, a cap of 2 in the top 5 cannot hold: the list is still filled
    out = run([boost, {**cap, "top_k": 5}], n=10)
    assert len(out) == 10
    assert "cap" in out[2]["rules"]  # a B item moved up because A was capped


def test_pins_hold_over_every_other_rule_and_skip_what_cannot_be_shown() -> None:
    rules = [
        {"id": "cap", "type": "diversity", "max_per_category": 1, "top_k": 10},
        {"id": "p1", "type": "pin", "item": "a9", "position": 1},
        {"id": "p3", "type": "pin", "item": "a8", "position": 3},
    ]
    out = run(rules)
    assert ids(out)[0] == "a9" and ids(out)[2] == "a8"
    assert out[0]["rules"] == ["p1"] and len(out) == 10
    # an unavailable pinned item is left out and the list stays full
    out = run(rules, cat=catalog(unavailable=frozenset({"a9"})))
    assert "a9" not in ids(out) and ids(out)[2] == "a8" and len(out) == 10
    # an excluded item is never pinned
    out = run([*rules, {"id": "x", "type": "exclude", "match": {"items": ["a8"]}}])
    assert "a8" not in ids(out)


def test_margin_rule_trades_relevance_for_margin() -> None:
    cat = catalog()
    before = [{"item_id": i} for i, _, _ in CANDIDATES[:10]]
    after = run([{"id": "m", "type": "margin", "weight": 1.0}], cat=cat)
    assert expected_margin(after, cat) > expected_margin(before, cat)
    assert ids(after)[0] in {"a9", "b9", "a8", "b8", "a7", "b7"}


def test_compiled_once_per_rule_set_and_catalog_view() -> None:
    cat = catalog()
    stored = StoredRules(rules=parse_rules({"rules": [{"id": "m", "type": "margin", "weight": 1}]}).rules)
    assert compiled_for(stored, cat) is compiled_for(stored, cat)
    assert compiled_for(stored, cat) is not compiled_for(stored, catalog())  # another view


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"id": "a", "type": "boost", "match": {"brands": ["x"]}, "weight": 0}],
            "rule 'a' (rules[0]), field 'weight'",
        ),
        ([{"id": "a", "type": "pin", "item": "x"}], "rule 'a' (rules[0]), field 'position': is required"),
        ([{"id": "a", "type": "promote", "match": {"items": ["x"]}, "max_share": 120}], "field 'max_share'"),
        ([{"type": "bury", "match": {"items": ["x"]}, "weight": 1}], "rules[0], field 'id': is required"),
        ([{"id": "a", "type": "teleport"}], "rule 'a' (rules[0]), field 'type': must be one of"),
        ([{"id": "a", "type": "exclude", "match": {}}], "rule 'a' (rules[0]), field 'match': must name"),
    ],
)
def test_bad_rules_name_the_rule_and_field(rules, message) -> None:
    from contract.rules import RulesError

    with pytest.raises(
        RulesError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    ):
        parse_rules({"rules": rules})


def test_promote_share_holds_for_items_a_diversity_cap_held_back() -> None:
    rules = [
        {"id": "promo", "type": "promote", "match": {"categories": ["B"]}, "max_share": 20, "weight": 5},
        {"id": "cap", "type": "diversity", "max_per_category": 1, "top_k": 4},
    ]
    out = run(rules, n=10)
    assert len([e for e in out if "promo" in e["rules"]]) <= 2
    assert len(out) == 10
