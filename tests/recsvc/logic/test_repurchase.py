"""Live purchases come back only once their item's repurchase interval has passed."""

from __future__ import annotations

from contract import records
from recsvc.logic.repurchase import DAY_S, not_due
from recsvc.store import Catalog

NOW = 1_800_000_000.0


def _catalog() -> Catalog:
    attrs = {
        "milk": records.ItemAttributes(repurchase_days=7.0),
        "sofa": records.ItemAttributes(),  # nobody bought it twice: no interval
    }
    items = {"milk": ("Milk", "fresh", True), "sofa": ("Sofa", "home", True), "tea": ("Tea", "fresh", True)}
    return Catalog("v", items, attributes=attrs)


def test_an_item_is_not_due_before_its_interval_and_due_after() -> None:
    cat = _catalog()
    just_now = [("purchase", "milk", NOW - 3600), ("purchase", "sofa", NOW - 40 * DAY_S)]
    assert not_due({"milk", "sofa"}, just_now, cat, NOW) == {"milk", "sofa"}
    week_ago = [("view", "milk", NOW - 60), ("purchase", "milk", NOW - 8 * DAY_S)]
    assert not_due({"milk"}, week_ago, cat, NOW) == frozenset()  # due again: shown again


def test_purchases_without_a_time_or_an_interval_stay_out() -> None:
    cat = _catalog()
    assert not_due({"milk"}, [], cat, NOW) == {"milk"}  # bought, but older than the recent events kept
    assert not_due({"tea"}, [("purchase", "tea", NOW - 90 * DAY_S)], cat, NOW) == {"tea"}  # not in the attributes
    assert not_due(set(), [("purchase", "milk", NOW)], cat, NOW) == frozenset()
