from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.conftest import mutated
from training.offers.catalog import OfferCatalogError, load, parse

GOOD = {
    "holdout_pct": 15,
    "max_offers_per_user": 2,
    "offers": [
        {
            "offer_id": "a1",
            "title": "A",
            "target": {"segments": ["champions"], "min_clv": 10},
            "discount_pct": 10,
            "cost_per_send": 0.1,
            "cost_per_redemption": 1,
            "budget": 100,
            "valid_from": "2026-01-01",
            "valid_to": "2026-02-01",
            "category": "books",
        }
    ],
}


def test_valid_catalog_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "o.json").write_text(json.dumps(GOOD))
    cat = load(tmp_path / "o.json")
    assert cat.holdout_pct == 15 and cat.max_offers_per_user == 2 and cat.offers[0].target.min_clv == 10
    (tmp_path / "o.yaml").write_text(
        "offers:\n  - offer_id: b\n    title: B\n    target: {lifecycle_stages: [new]}\n"
        "    discount_pct: 5\n    cost_per_send: 0\n    cost_per_redemption: 0\n"
        "    budget: 1\n    valid_from: 2026-01-01\n    valid_to: 2026-01-02\n"
    )
    cat = load(tmp_path / "o.yaml")
    assert cat.holdout_pct == 10 and cat.max_offers_per_user == 3 and cat.offers[0].max_per_user == 1


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["offers", 0, "budget"], -5, "offer 'a1', field 'budget': must be > 0"),
        (["offers", 0, "budget"], 0, "offer 'a1', field 'budget': must be > 0"),
        (["offers", 0, "discount_pct"], 150, "offer 'a1', field 'discount_pct': must be <= 100"),
        (["offers", 0, "discount_pct"], "ten", "offer 'a1', field 'discount_pct': must be a number"),
        (["offers", 0, "cost_per_send"], KeyError, "offer 'a1', field 'cost_per_send': is required"),
        (["offers", 0, "valid_to"], "2025-01-01", "offer 'a1', field 'valid_to': must not be before valid_from"),
        (["offers", 0, "valid_from"], "someday", "offer 'a1', field 'valid_from': not an ISO date"),
        (["offers", 0, "target"], {"planet": ["mars"]}, "offer 'a1', field 'target'.planet: unknown target field"),
        (["offers", 0, "target"], {}, "offer 'a1', field 'target': must be an object"),
        (["offers", 0, "target", "segments"], "champions", "segments: must be a list of non-empty strings"),
        (["offers", 0, "max_per_user"], 0, "offer 'a1', field 'max_per_user': must be an integer >= 1"),
        (["offers", 0, "colour"], "red", "offer 'a1', field 'colour': unknown field"),
        (["offers", 0, "offer_id"], "bad id!", "field 'offer_id': must be 1-64 characters"),
        (["holdout_pct"], 80, "field 'holdout_pct': must be <= 50"),
        (["max_offers_per_user"], 0, "field 'max_offers_per_user': must be an integer >= 1"),
        (["offers"], [], "field 'offers': must be a non-empty list"),
    ],
)
def test_bad_catalogs_are_rejected_naming_offer_and_field(path, value, fragment) -> None:
    with pytest.raises(OfferCatalogError) as err:
        parse(mutated(GOOD, path, value), "offers.json")
    assert fragment in str(err.value) and str(err.value).startswith("offers.json: ")


def test_duplicate_ids_and_bad_files(tmp_path: Path) -> None:
    data = copy.deepcopy(GOOD)
    data["offers"].append(copy.deepcopy(data["offers"][0]))
    with pytest.raises(OfferCatalogError, match="offer 'a1', field 'offer_id': is used by more than one offer"):
        parse(data)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(OfferCatalogError, match="not valid JSON"):
        load(tmp_path / "x.json")
    with pytest.raises(OfferCatalogError, match="file not found"):
        load(tmp_path / "missing.yaml")
