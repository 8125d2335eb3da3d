"""Live catalog, merchandising lists and business rules through real gunicorn (2 workers) and Redis."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict

from contract import keys
from tests.conftest import API_KEY, run_training, start_gunicorn
from tests.merch_shop import write_shop
from tools.harness import Gunicorn, RedisServer, free_port

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def merch_redis(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("merch-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def merch_shop(tmp_path_factory) -> Path:
    return write_shop(tmp_path_factory.mktemp("merch-shop"))


@pytest.fixture(scope="module")
def merch_published(merch_redis, merch_shop) -> str:
    done = run_training(merch_shop, "--redis", merch_redis.url)
    assert done.returncode == 0, done.stderr
    return merch_redis.client().get(keys.ACTIVE).decode()


@pytest.fixture(scope="module")
def service(merch_redis, merch_published, tmp_path_factory) -> Iterator[Gunicorn]:
    g = start_gunicorn(merch_redis.url, tmp_path_factory.mktemp("merch-gunicorn"), RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()


@pytest.fixture(autouse=True)
def clean_overlay(merch_redis) -> Iterator[None]:
    yield
    client = merch_redis.client()
    client.delete(keys.CATALOG_OVERLAY, keys.RULES)
    client.incr(keys.MERCH_SEQ)


def requests_per_worker(service: Gunicorn) -> dict[str, int]:
    """Requests each worker has answered, from its own Prometheus multiprocess file."""
    out = {}
    folder = service.log.parent / "prometheus"
    for path in folder.glob("histogram_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        out[path.stem.split("_")[-1]] = int(sum(v[1] for v in values if '"recsvc_request_seconds_bucket"' in v[0]))
    return out


def fresh(service: Gunicorn, method: str, path: str, **kw) -> requests.Response:
    """One request on a new connection (so the kernel may hand it to either worker)."""
    headers = {"Connection": "close"} | kw.pop("headers", {})
    with requests.Session() as s:
        return s.request(method, service.base + path, timeout=5, headers=headers, **kw)


def shown(service: Gunicorn, method: str, path: str, body: dict | None = None) -> list[str]:
    resp = fresh(service, method, path, json=body)
    assert resp.status_code == 200, resp.text
    return [i["item_id"] for i in resp.json()["items"]]


def find(service: Gunicorn, item: str, candidates: list[str], template: str) -> str:
    """A path from `template` (filled with each candidate) whose list shows `item`."""
    for c in candidates:
        path = template.format(c)
        if item in shown(service, "GET", path):
            return path
    raise AssertionError(f"no {template} shows {item}")


def test_an_unavailable_item_vanishes_from_every_endpoint_of_every_worker_within_a_second(service) -> None:
    item = "I000002"  # always bought with I000001: in its bought-together list and its cart's complements
    users = [f"U{k:07d}" for k in range(60)]
    viewer = "U0000042"
    assert fresh(
        service, "POST", "/v1/events", json={"user_id": viewer, "item_id": item, "event": "view"}, headers=KEY
    ).ok
    endpoints = [
        ("GET", find(service, item, users, "/v1/users/{}/recommendations?n=100"), None),
        ("GET", find(service, item, [f"I{k:06d}" for k in range(120)], "/v1/items/{}/similar?n=100"), None),
        ("GET", "/v1/popular?n=100", None),
        ("GET", "/v1/trending?n=100", None),
        ("GET", f"/v1/users/{viewer}/recently-viewed?n=100", None),
        ("GET", "/v1/items/I000001/bought-together?n=100", None),
        ("POST", "/v1/cart/recommendations", {"items": ["I000001"], "n": 100}),
    ]
    for method, path, body in endpoints:
        assert item in shown(service, method, path, body), path
    new = fresh(
        service, "PUT", "/v1/items/N1", json={"title": "Pro black headphones", "category": "electronics"}, headers=KEY
    )
    assert new.status_code == 200, new.text
    endpoints.append(("GET", "/v1/new-arrivals?n=100", None))
    for _ in range(10):  # every worker has built its catalog view with both items before the change
        assert "N1" in shown(service, "GET", "/v1/new-arrivals?n=100")

    changed = time.monotonic()
    for name in (item, "N1"):
        resp = fresh(service, "PATCH", f"/v1/items/{name}", json={"available": False}, headers=KEY)
        assert resp.status_code == 200 and resp.json()["available"] is False
    clean_at = None
    while clean_at is None:
        if all({item, "N1"}.isdisjoint(shown(service, m, p, b)) for m, p, b in endpoints):
            clean_at = time.monotonic() - changed
        assert time.monotonic() - changed < 1.0, "still shown a second after the change"
    before = requests_per_worker(service)
    for _ in range(60):  # every endpoint again, until both workers have answered after the change
        for method, path, body in endpoints:
            assert {item, "N1"}.isdisjoint(shown(service, method, path, body)), path
        after = requests_per_worker(service)
        if len([pid for pid in after if after[pid] > before.get(pid, 0) + 3]) == 2:
            break
    assert len([pid for pid in after if after[pid] > before.get(pid, 0) + 3]) == 2, (before, after)
    assert clean_at < 1.0


def test_a_new_item_is_served_with_similar_items_at_once(service) -> None:
    twin = fresh(service, "GET", "/v1/items/I000013").json()  # a published item: the new one reads like it
    body = {
        "title": twin["title"] + " mark II",
        "category": twin["category"],
        "brand": twin["brand"],
        "tags": twin["tags"],
    }
    assert fresh(service, "PUT", "/v1/items/NEW-42", json=body, headers=KEY).status_code == 200
    for _ in range(8):  # both workers, immediately
        resp = fresh(service, "GET", "/v1/items/NEW-42/similar?n=5")
        assert resp.status_code == 200
        items = resp.json()["items"]
        assert len(items) == 5 and "NEW-42" not in {i["item_id"] for i in items}
        assert items[0]["item_id"] == "I000013"
        assert sum(i["category"] == twin["category"] for i in items) >= 2
    assert fresh(service, "GET", "/v1/items/NEW-42").json()["in_published_catalog"] is False
    assert shown(service, "GET", f"/v1/new-arrivals?n=3&category={twin['category']}")[0] == "NEW-42"


def test_bulk_changes_are_validated_whole(service, merch_redis) -> None:
    bad = {"items": [{"item_id": "I000003", "price": 9.5}, {"item_id": "I000004", "price": -1}]}
    resp = fresh(service, "POST", "/v1/items", json=bad, headers=KEY)
    assert resp.status_code == 400 and "items[1].price" in resp.json()["error"]["message"]
    unknown = {"items": [{"item_id": "I000003", "price": 9.5}, {"item_id": "BRAND-NEW", "price": 3}]}
    resp = fresh(service, "POST", "/v1/items", json=unknown, headers=KEY)
    assert resp.status_code == 400 and "items[1]" in resp.json()["error"]["message"]
    assert merch_redis.client().hlen(keys.CATALOG_OVERLAY) == 0  # nothing was written
    good = {"items": [{"item_id": "I000003", "stock": 0}, {"item_id": "B1", "title": "Blue kite", "category": "toys"}]}
    assert fresh(service, "POST", "/v1/items", json=good, headers=KEY).status_code == 202
    assert fresh(service, "GET", "/v1/items/I000003").json()["available"] is False
    assert fresh(service, "GET", "/v1/items/B1").json()["source"] == "live"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/v1/items/X1", {"title": "t"}, "item.category: is required"),
        ("PUT", "/v1/items/X1", {"title": "t", "category": "c", "stock": -2}, "item.stock"),
        ("PATCH", "/v1/items/I000001", {}, "give at least one of"),
        ("PATCH", "/v1/items/I000001", {"price": "cheap"}, "item.price: must be a number"),
        ("PATCH", "/v1/items/I000001", {"colour": "red"}, "item.colour: unknown field"),
        ("PATCH", "/v1/items/I000001", {"title": None}, "title cannot be null"),
        ("POST", "/v1/items", {"items": [{"item_id": "I000001", "category": None}]}, "category cannot be null"),
        ("POST", "/v1/cart/recommendations", {"items": []}, "cart.items"),
    ],
)
def test_bad_item_bodies_are_400_naming_the_field(service, merch_redis, method, path, body, field) -> None:
    resp = fresh(service, method, path, json=body, headers=KEY)
    assert resp.status_code == 400 and field in resp.json()["error"]["message"], resp.text
    assert merch_redis.client().hlen(keys.CATALOG_OVERLAY) == 0


def test_catalog_writes_need_an_api_key(service) -> None:
    assert fresh(service, "DELETE", "/v1/items/I000001").status_code == 401
    assert fresh(service, "PUT", "/v1/rules", json={"rules": []}, headers={"X-API-Key": "wrong"}).status_code == 403
    assert fresh(service, "PATCH", "/v1/items/nope", json={"price": 1}, headers=KEY).status_code == 404


PINNED = ("PIN-A", "PIN-B")  # added live: nobody has bought them, so they may be pinned for every user
RULES = {
    "rules": [
        {"id": "pin-top", "type": "pin", "item": "PIN-A", "position": 1},
        {"id": "pin-third", "type": "pin", "item": "PIN-B", "position": 3},
        {"id": "one-per-category", "type": "diversity", "max_per_category": 1, "top_k": 6},
        {"id": "no-garden", "type": "exclude", "match": {"categories": ["garden"]}},
        {"id": "books", "type": "promote", "match": {"categories": ["books"]}, "max_share": 20, "weight": 3},
    ]
}


def test_rules_order_caps_and_pins_hold_on_every_worker(service) -> None:
    for item in PINNED:
        body = {"title": f"Campaign {item}", "category": "campaign"}
        assert fresh(service, "PUT", f"/v1/items/{item}", json=body, headers=KEY).status_code == 200
    resp = fresh(service, "PUT", "/v1/rules", json=RULES, headers=KEY)
    assert resp.status_code == 200 and resp.json()["active"] == 5
    for k in range(8):
        items = fresh(service, "GET", f"/v1/users/U{k:07d}/recommendations?n=10").json()["items"]
        got = [i["item_id"] for i in items]
        assert len(got) == 10 and got[0] == "PIN-A" and got[2] == "PIN-B"
        assert items[0]["rules"] == ["pin-top"] and items[2]["rules"] == ["pin-third"]
        assert all(i["category"] != "garden" for i in items)
        window = [i["category"] for i in items[:6] if i["item_id"] not in PINNED]
        assert len(window) == len(set(window))  # one per category among the ranked items of the top 6
        promoted = [i for i in items if "books" in i["rules"]]
        assert len(promoted) <= 2  # 20% of 10
    popular = fresh(service, "GET", "/v1/popular?n=5").json()["items"]
    assert popular[0]["item_id"] == "PIN-A" and all("rules" in i for i in popular)


def test_bad_rules_get_a_clear_400_and_change_nothing(service) -> None:
    assert fresh(service, "PUT", "/v1/rules", json=RULES, headers=KEY).status_code == 200
    before = fresh(service, "GET", "/v1/rules", headers=KEY).json()
    bad = {"rules": [*RULES["rules"], {"id": "oops", "type": "boost", "match": {"brands": ["x"]}, "weight": -2}]}
    resp = fresh(service, "PUT", "/v1/rules", json=bad, headers=KEY)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "invalid_rules",
        "message": "rule 'oops' (rules[5]), field 'weight': must be > 0, got -2",
    }
    dup = {"rules": [RULES["rules"][0], {**RULES["rules"][0], "position": 2}]}
    assert "duplicate id" in fresh(service, "PUT", "/v1/rules", json=dup, headers=KEY).json()["error"]["message"]
    assert fresh(service, "PUT", "/v1/rules", data="not json", headers=KEY).status_code == 400
    assert fresh(service, "GET", "/v1/rules", headers=KEY).json() == before


def test_dry_run_shows_lists_with_and_without_the_proposed_rules(service) -> None:
    body = {"user_id": "U0000003", "rules": {"rules": [{"id": "m", "type": "margin", "weight": 2}]}, "n": 10}
    resp = fresh(service, "POST", "/v1/rules/dry-run", json=body, headers=KEY)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["proposed"]["expected_margin"] > out["without_rules"]["expected_margin"]
    assert all(i["rules"] == ["m"] for i in out["proposed"]["items"] if "rules" in i)
    assert fresh(service, "GET", "/v1/rules", headers=KEY).json()["active"] == 0  # nothing was stored
    bad = dict(body, rules={"rules": [{"id": "m", "type": "margin"}]})
    resp = fresh(service, "POST", "/v1/rules/dry-run", json=bad, headers=KEY)
    assert resp.status_code == 400 and resp.json()["error"]["message"].startswith(
        "rules: rule 'm' (rules[0]), field 'weight'"
    )


def test_the_dashboard_shows_the_active_rules(service) -> None:
    assert fresh(service, "PUT", "/v1/rules", json=RULES, headers=KEY).status_code == 200
    page = fresh(service, "GET", "/dashboard/rules", auth=("anyone", API_KEY))
    assert page.status_code == 200
    for rule in RULES["rules"]:
        assert rule["id"] in page.text
    assert "Source: api" in page.text and "one per category" not in page.text
    assert "at most 1 per category in the top 6" in page.text


def test_recently_viewed_and_trending(service) -> None:
    for item in ("I000020", "I000021", "I000020"):
        fresh(
            service, "POST", "/v1/events", json={"user_id": "viewer-9", "item_id": item, "event": "view"}, headers=KEY
        )
    assert shown(service, "GET", "/v1/users/viewer-9/recently-viewed") == ["I000020", "I000021"]
    trending = fresh(service, "GET", "/v1/trending?n=5").json()
    assert trending["source"] == "trending" and len(trending["items"]) == 5


def test_bought_together_and_cart_complements(service) -> None:
    body = fresh(service, "GET", "/v1/items/I000003/bought-together?n=5").json()
    top = body["items"][:2]
    assert {i["item_id"] for i in top} == {"I000004", "I000005"}
    assert all(i["lift"] > 1 and i["baskets"] >= 2 and i["reason"].startswith("often bought with") for i in top)
    cart = fresh(service, "POST", "/v1/cart/recommendations", json={"items": ["I000003", "I000004"], "n": 5}).json()
    assert cart["items"][0]["item_id"] == "I000005"
    assert not {"I000003", "I000004"} & {i["item_id"] for i in cart["items"]}


def test_a_deleted_item_stays_hidden_after_a_retrain(service, merch_redis, merch_shop) -> None:
    assert fresh(service, "DELETE", "/v1/items/I000002", headers=KEY).status_code == 200
    assert fresh(service, "PATCH", "/v1/items/I000001", json={"price": 1.25}, headers=KEY).status_code == 200
    done = run_training(merch_shop, "--redis", merch_redis.url)  # the items file predates both changes
    assert done.returncode == 0, done.stderr
    time.sleep(0.5)  # the workers' version pointer (RECSVC_VERSION_CACHE_S=0.2 in tests)
    assert "I000002" not in shown(service, "GET", "/v1/items/I000001/bought-together?n=100")
    assert fresh(service, "GET", "/v1/items/I000002/similar").status_code == 404
    assert fresh(service, "GET", "/v1/items/I000001").json()["price"] == 1.25  # newer than the catalog
    # a fresher items file supersedes the price change; once no kept version needs it, it leaves the overlay
    os.utime(merch_shop / "items.csv")
    done = run_training(merch_shop, "--redis", merch_redis.url, "--keep-versions", "1")
    assert done.returncode == 0, done.stderr
    overlay = merch_redis.client().hkeys(keys.CATALOG_OVERLAY)
    assert overlay == [b"I000002"]  # the hide stays until the item is PUT again
    time.sleep(0.5)
    assert fresh(service, "GET", "/v1/items/I000001").json()["source"] == "published"
    assert fresh(service, "GET", "/v1/items/I000002/similar").status_code == 404
