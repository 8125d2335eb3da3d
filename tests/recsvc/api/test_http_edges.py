"""The smaller HTTP edges of issue 18, through real gunicorn over a real Redis: chunked and long requests,
bare arrays of events, /similar beyond the published 20, fallback answers, expired audience cursors and
per-offer holdouts."""

from __future__ import annotations

import json
import time

import pytest
import requests

from contract import keys
from tests.conftest import API_KEY, start_gunicorn

H = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
EVENT = {"user_id": "edge-user", "item_id": "I000001", "event": "view"}


@pytest.fixture(scope="module")
def service(redis_server, published, tmp_path_factory):
    g = start_gunicorn(redis_server.url, tmp_path_factory.mktemp("edges"), RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()


@pytest.fixture
def clean_live(redis_server):
    yield
    redis_server.client().delete(keys.recent("edge-user"), keys.EVENTS_STREAM)


def _chunks(body: bytes):
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


def test_chunked_bodies_obey_the_size_limit(service, clean_live) -> None:
    big = json.dumps({"events": [EVENT] * 80_000}).encode()  # about 4 MB
    assert len(big) > 4_000_000
    resp = requests.post(f"{service.base}/v1/events", data=_chunks(big), headers=H, timeout=30)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_entity_too_large"
    small = json.dumps({"events": [EVENT] * 3}).encode()
    resp = requests.post(f"{service.base}/v1/events", data=_chunks(small), headers=H, timeout=30)
    assert resp.status_code == 202 and resp.json()["accepted"] == 3


def test_a_bare_array_of_events_is_a_batch(service, clean_live) -> None:
    resp = requests.post(f"{service.base}/v1/events", json=[EVENT, EVENT | {"event": "cart"}], headers=H, timeout=5)
    assert resp.status_code == 202 and resp.json()["accepted"] == 2
    bad = requests.post(f"{service.base}/v1/events", json=[EVENT, {"user_id": "x"}], headers=H, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("events[1].item_id")
    empty = requests.post(f"{service.base}/v1/events", json=[], headers=H, timeout=5)
    assert empty.status_code == 400


def test_null_recommendation_id_is_accepted_as_the_schema_says(service, clean_live) -> None:
    resp = requests.post(
        f"{service.base}/v1/events", json=EVENT | {"recommendation_id": None, "price": None}, headers=H, timeout=5
    )
    assert resp.status_code == 202


def test_long_request_lines_answer_json(service, run_result) -> None:
    user = str(run_result.user_ids[0])
    items = [str(i) for i in run_result.item_ids[:120]] + [
        f"an-item-from-another-catalog-{k:04d}-{'x' * 30}" for k in range(80)
    ]
    fits = service.get(f"/v1/users/{user}/recommendations?n=5&exclude={','.join(items)}")
    assert len(fits.url) > 4094 and fits.status_code == 200  # over gunicorn's default limit
    too_long = service.get(f"/v1/users/{'u' * 9000}/recommendations")
    assert too_long.status_code == 414 and too_long.headers["Content-Type"] == "application/json"
    assert too_long.json()["error"]["code"] == "uri_too_long"


@pytest.mark.parametrize("path", ["/v1/users/a%00b/offers", "/v1/segments/a%0Ab/users", "/v1/items/a%09b/similar"])
def test_ids_with_control_characters_are_400(service, path: str) -> None:
    resp = service.get(path)
    assert resp.status_code == 400 and "control characters" in resp.json()["error"]["message"]


def test_similar_is_topped_up_to_n(service, run_result) -> None:
    item = str(run_result.item_ids[0])
    body = service.get(f"/v1/items/{item}/similar?n=100").json()
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 100 and len(set(ids)) == 100 and item not in ids
    cat = run_result.catalog.set_index("item_id")
    showable = set(cat.index[cat["in_catalog"] & cat["available"]])
    published = [i for i in run_result.similar_items[0] if i in showable]  # the 20 the version keeps
    assert 0 < len(published) <= 20 and ids[: len(published)] == published
    topped = body["items"][len(published) :]
    assert topped[0]["reason"] == f"popular in {cat.loc[item, 'category']}"


def test_fallback_answers_carry_every_key(own_redis, run_result, tmp_path) -> None:
    from training.publish.redis_publisher import publish_result

    publish_result(run_result, own_redis.url)
    g = start_gunicorn(own_redis.url, tmp_path)
    try:
        user = str(run_result.user_ids[0])
        assert g.get(f"/v1/users/{user}/recommendations").json()["source"] == "personalized"
        own_redis.stop()
        body = g.get(f"/v1/users/{user}/recommendations").json()
        assert body["source"] == "fallback"
        assert {k: body[k] for k in ("recommendation_id", "experiment_id", "variant")} == dict.fromkeys(
            ("recommendation_id", "experiment_id", "variant")
        )
    finally:
        g.stop()


def test_audience_cursor_of_a_pruned_version_is_expired(own_redis, run_result, tmp_path) -> None:
    from training.publish.redis_publisher import publish_result

    publish_result(run_result, own_redis.url)
    g = start_gunicorn(own_redis.url, tmp_path)
    try:
        page = g.get("/v1/campaigns/vip/audience?limit=5").json()
        cursor = page["next_cursor"]
        assert cursor
        publish_result(run_result, own_redis.url, keep=1)  # the cursor's version is pruned
        time.sleep(0.3)  # the workers' version cache (0.2 s in tests)
        resp = g.get(f"/v1/campaigns/vip/audience?limit=5&cursor={cursor}")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "expired_cursor"
        assert g.get("/v1/campaigns/vip/audience?limit=5").status_code == 200
    finally:
        g.stop()


def test_holdout_is_per_offer(service, run_result) -> None:
    a = run_result.offers.assignments
    held_vip = set(a[(a.offer_id == "vip") & (a.group == "holdout")].user_id)
    treated = a[a.group == "treatment"]
    user = next((u for u in treated.user_id if u in held_vip), None)
    if user is None:  # nobody is both held out of vip and sent another offer: any vip holdout user
        user = sorted(held_vip)[0]
    body = service.get(f"/v1/users/{user}/offers").json()
    assert body["holdout"] is True and "vip" in body["holdout_offers"]
    assert "vip" not in {o["offer_id"] for o in body["offers"]}
    assert all(o["holdout"] is False for o in body["offers"])
    mine = set(a[(a.user_id == user) & (a.group == "holdout")].offer_id)
    assert set(body["holdout_offers"]) == mine
