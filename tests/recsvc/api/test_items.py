from __future__ import annotations

import pytest


def test_similar_items(client, run_result) -> None:
    item = str(run_result.item_ids[0])
    body = client.get(f"/v1/items/{item}/similar?n=5").get_json()
    assert body["item_id"] == item and len(body["items"]) == 5
    assert item not in {i["item_id"] for i in body["items"]}
    cached = [i for i in run_result.similar_items[0] if i][:5]
    assert [i["item_id"] for i in body["items"]] == cached


def test_similar_items_category_filter(client, run_result) -> None:
    item = str(run_result.item_ids[0])
    category = run_result.catalog.category.iloc[0]
    body = client.get(f"/v1/items/{item}/similar?n=10&category={category}").get_json()
    assert all(i["category"] == category for i in body["items"])


def test_unknown_item_is_404_json(client) -> None:
    resp = client.get("/v1/items/no-such-item/similar")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_item"


def test_popular_global_and_by_category(client, run_result) -> None:
    body = client.get("/v1/popular?n=3").get_json()
    assert [i["item_id"] for i in body["items"]] == [i for i, _ in run_result.popular[""][:3]]
    category = sorted(k for k in run_result.popular if k)[0]
    body = client.get(f"/v1/popular?n=100&category={category}").get_json()
    assert body["items"] and all(i["category"] == category for i in body["items"])


@pytest.mark.parametrize("path", ["/v1/popular?n=-1", "/v1/popular?category=nope", "/v1/items/x/similar?n=abc"])
def test_bad_parameters(client, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 400 and resp.is_json
