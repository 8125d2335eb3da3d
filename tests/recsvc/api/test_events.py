from __future__ import annotations

import time

import pytest
import requests

from contract import keys
from tests.conftest import API_KEY, start_gunicorn

H = {"X-API-Key": API_KEY}


def _post(client, body, headers=H):
    return client.post("/v1/events", json=body, headers=headers)


def test_purchase_disappears_within_a_second_through_gunicorn(redis_server, published, run_result, tmp_path) -> None:
    g = start_gunicorn(redis_server.url, tmp_path, RECSVC_API_KEYS=API_KEY)
    try:
        user = str(run_result.user_ids[7])
        first = g.get(f"/v1/users/{user}/recommendations?n=10").json()["items"]
        target = first[0]["item_id"]
        seed_item = next(str(i) for i, row in zip(run_result.item_ids, run_result.similar_items) if target in row)
        assert target in [i["item_id"] for i in g.get(f"/v1/items/{seed_item}/similar?n=20").json()["items"]]
        started = time.perf_counter()
        r = requests.post(
            f"{g.base}/v1/events",
            json={"user_id": user, "item_id": target, "event": "purchase", "price": 9.5},
            headers=H,
            timeout=5,
        )
        assert r.status_code == 202
        after = g.get(f"/v1/users/{user}/recommendations?n=10").json()
        sims = g.get(f"/v1/items/{seed_item}/similar?n=20&user_id={user}").json()
        elapsed = time.perf_counter() - started
        assert target not in [i["item_id"] for i in after["items"]] and len(after["items"]) == 10
        assert target not in [i["item_id"] for i in sims["items"]]
        assert elapsed < 1.0
    finally:
        g.stop()
        c = redis_server.client()
        c.delete(keys.recent(user), keys.live_bought(user), keys.EVENTS_STREAM)


def test_anonymous_session_gets_items_related_to_what_it_viewed(client, run_result, redis_server) -> None:
    viewed = [str(i) for i in run_result.item_ids[:3]]
    assert (
        _post(client, {"events": [{"user_id": "anon-1", "item_id": i, "event": "view"} for i in viewed]}).status_code
        == 202
    )
    body = client.get("/v1/users/anon-1/recommendations?n=10").get_json()
    assert body["source"] == "session"
    related = set()
    for row in run_result.similar_items[:3]:
        related |= {i for i in row if i}
    ids = [i["item_id"] for i in body["items"]]
    assert ids[0] in related and sum(i in related for i in ids) >= 5
    assert body["items"][0]["reason"].startswith("similar to ") and "you viewed" in body["items"][0]["reason"]
    redis_server.client().delete(keys.recent("anon-1"), keys.EVENTS_STREAM)


def test_recent_views_rerank_a_known_users_list(client, run_result, redis_server) -> None:
    user = str(run_result.user_ids[11])
    before = [i["item_id"] for i in client.get(f"/v1/users/{user}/recommendations?n=20").get_json()["items"]]
    # look at an item whose similar items are not at the top of the user's list yet
    k = next(k for k, row in enumerate(run_result.similar_items) if row[0] and row[0] not in before[:3])
    viewed, best_similar = str(run_result.item_ids[k]), run_result.similar_items[k][0]
    assert _post(client, {"user_id": user, "item_id": viewed, "event": "view"}).status_code == 202
    after = client.get(f"/v1/users/{user}/recommendations?n=20").get_json()
    ids = [i["item_id"] for i in after["items"]]
    assert after["source"] == "personalized"
    bought = set(run_result.purchased.get(user, []))
    if best_similar not in bought:
        assert best_similar in ids[:3]
        title = run_result.catalog.set_index("item_id").loc[viewed, "title"]
        entry = next(i for i in after["items"] if i["item_id"] == best_similar)
        assert entry["reason"] == f"similar to {title} you viewed"
    redis_server.client().delete(keys.recent(user), keys.EVENTS_STREAM)


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"item_id": "i", "event": "view"}, "event.user_id"),
        ({"user_id": "u", "event": "view"}, "event.item_id"),
        ({"user_id": "u", "item_id": "i", "event": "like"}, "event.event"),
        ({"user_id": "u", "item_id": "i", "event": "view", "timestamp": "soon"}, "event.timestamp"),
        ({"user_id": "u", "item_id": "i", "event": "view", "timestamp": 4e10}, "event.timestamp"),
        ({"user_id": "u", "item_id": "i", "event": "purchase", "price": -1}, "event.price"),
        ({"user_id": "u", "item_id": "i", "event": "purchase", "quantity": "2"}, "event.quantity"),
        ({"user_id": "", "item_id": "i", "event": "view"}, "event.user_id"),
        ({"user_id": "u", "item_id": "i", "event": "view", "colour": "red"}, "event.colour"),
    ],
)
def test_invalid_events(client, event, fragment) -> None:
    resp = _post(client, event)
    assert resp.status_code == 400
    assert fragment in resp.get_json()["error"]["message"]


def test_one_bad_event_rejects_the_whole_batch(client, redis_server) -> None:
    c = redis_server.client()
    before = c.xlen(keys.EVENTS_STREAM)
    batch = [{"user_id": "batch-user", "item_id": f"i{k}", "event": "view"} for k in range(5)]
    batch[3]["event"] = "like"
    resp = _post(client, {"events": batch})
    assert resp.status_code == 400 and "events[3].event" in resp.get_json()["error"]["message"]
    assert c.xlen(keys.EVENTS_STREAM) == before and c.llen(keys.recent("batch-user")) == 0


@pytest.mark.parametrize("body", [[], {"events": []}, {"events": [{}] * 1001}, {"events": "x"}, "text"])
def test_bad_bodies(client, body) -> None:
    assert _post(client, body).status_code == 400


def test_oversized_body_is_413(client) -> None:
    resp = client.post(
        "/v1/events", data=b"{" + b" " * 2_000_000 + b"}", headers=H | {"Content-Type": "application/json"}
    )
    assert resp.status_code == 413 and resp.is_json


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-API-Key": "nope"}, 403)])
def test_keys_are_required_once_configured(client, headers, status) -> None:
    resp = _post(client, {"user_id": "u", "item_id": "i", "event": "view"}, headers)
    assert resp.status_code == status and resp.is_json
    assert "nope" not in resp.get_data(as_text=True)


def test_without_configured_keys_writes_are_open(redis_server, published) -> None:
    from recsvc.app import create_app
    from recsvc.settings import Settings

    app = create_app(Settings(redis_url=redis_server.url))
    resp = app.test_client().post("/v1/events", json={"user_id": "open", "item_id": "i", "event": "view"})
    assert resp.status_code == 202
    redis_server.client().delete(keys.recent("open"), keys.EVENTS_STREAM)
