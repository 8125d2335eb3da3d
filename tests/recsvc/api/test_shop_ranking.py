"""A grocery shop with known answers, trained by the real CLI and served by real gunicorn + Redis: the due
consumable first with "buy again", owned durables never, an "order again" list, and live purchases that
leave the lists until they are due again while views still re-rank."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.conftest import API_KEY, run_training, start_gunicorn
from training.datasets.grocery import generate


@pytest.fixture(scope="module")
def grocery(tmp_path_factory: pytest.TempPathFactory):
    shop = generate(n_users=300, days=150, seed=7)
    out = tmp_path_factory.mktemp("grocery")
    events = shop.events.copy()
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    events.to_csv(out / "events.csv", index=False)
    shop.items.to_csv(out / "items.csv", index=False)
    return shop, out


@pytest.fixture(scope="module")
def served(grocery, tmp_path_factory: pytest.TempPathFactory):
    from tools.harness import RedisServer, free_port

    shop, out = grocery
    redis_server = RedisServer(free_port(), tmp_path_factory.mktemp("redis-grocery")).start()
    res = run_training(out, "--redis", redis_server.url)
    assert res.returncode == 0, res.stderr[-3000:]
    g = start_gunicorn(redis_server.url, Path(tmp_path_factory.mktemp("gunicorn-grocery")), RECSVC_API_KEYS=API_KEY)
    yield shop, g
    g.stop()
    redis_server.stop()


def _owned(shop, user: str, kinds: set[str]) -> set[str]:
    ev = shop.events
    return set(ev[(ev.user_id == user) & ev.item_id.isin(kinds)].item_id)


def test_due_consumable_first_and_owned_durables_never(served) -> None:
    shop, g = served
    for user in [f"G{k:04d}" for k in range(0, 300, 37)]:
        body = g.get(f"/v1/users/{user}/recommendations?n=10").json()
        ids = [i["item_id"] for i in body["items"]]
        assert body["source"] == "personalized"
        assert ids[0] in _owned(shop, user, shop.weekly) and body["items"][0]["reason"] == "buy again"
        assert not set(ids) & _owned(shop, user, shop.durables)
        again = g.get(f"/v1/users/{user}/buy-again?n=5").json()
        assert again["source"] == "buy_again"
        assert {i["item_id"] for i in again["items"][:2]} == _owned(shop, user, shop.weekly)
        assert not {i["item_id"] for i in again["items"]} & _owned(shop, user, shop.durables)


def _eventually(check, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_live_purchase_waits_for_its_repurchase_interval_and_views_rerank(served) -> None:
    shop, g = served
    user = "G0111"
    first = g.get(f"/v1/users/{user}/recommendations?n=10").json()["items"][0]["item_id"]
    event = {"user_id": user, "item_id": first, "event": "purchase", "timestamp": time.time()}
    posted = requests.post(g.base + "/v1/events", json=event, headers={"X-API-Key": API_KEY}, timeout=5)
    assert posted.status_code == 202

    def gone() -> bool:
        recs = [i["item_id"] for i in g.get(f"/v1/users/{user}/recommendations?n=10").json()["items"]]
        again = [i["item_id"] for i in g.get(f"/v1/users/{user}/buy-again?n=10").json()["items"]]
        return first not in recs and first not in again

    assert _eventually(gone, 1.0)  # bought a minute ago: due again only after about a week
    # Viewing an item pulls its closest (unowned) item up the list, or into it with "you viewed".
    owned = _owned(shop, user, shop.durables)

    def ranks() -> dict[str, int]:
        items = g.get(f"/v1/users/{user}/recommendations?n=20").json()["items"]
        return {i["item_id"]: k for k, i in enumerate(items)} | {"": -1}

    def closest(item: str) -> str:
        similar = [i["item_id"] for i in g.get(f"/v1/items/{item}/similar?n=5").json()["items"]]
        return next((i for i in similar if i not in owned), "")

    before = ranks()
    viewed = next(i for i in sorted(shop.durables - owned) if before.get(closest(i), 99) > 0)
    pulled = closest(viewed)
    view = {"user_id": user, "item_id": viewed, "event": "view"}
    assert requests.post(g.base + "/v1/events", json=view, headers={"X-API-Key": API_KEY}, timeout=5).ok
    title = g.get(f"/v1/items/{viewed}").json()["title"]

    def reranked() -> bool:
        items = g.get(f"/v1/users/{user}/recommendations?n=20").json()["items"]
        now = {i["item_id"]: k for k, i in enumerate(items)}
        why = {i["item_id"]: i["reason"] for i in items}
        moved_up = now.get(pulled, 99) < before.get(pulled, 99)
        return moved_up and (pulled in before or why[pulled] == f"similar to {title} you viewed")

    assert _eventually(reranked, 1.0)
