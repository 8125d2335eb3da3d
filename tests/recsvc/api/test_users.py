"""DELETE /v1/users/<id> and PUT /v1/users/<id>/consent through real gunicorn workers over a real Redis."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
import requests

from contract import erasure
from tests.conftest import python_m, start_gunicorn
from tests.privacy_shop import ERASED, NO_MARKETING, NO_PROFILING, make_shop, offers_file, traces

KEYS = "first-key-1,second-key-2"
HEADERS = {"X-API-Key": "second-key-2"}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    from training.pipeline import RunConfig, run

    shop = make_shop(tmp_path_factory.mktemp("privacy-shop"), renamed=(ERASED, NO_PROFILING, NO_MARKETING))
    config = RunConfig(
        events=[shop / "events.csv"], items=shop / "items.csv", offers=offers_file(shop), evaluate=False, progress=False
    )
    return run(config)


@pytest.fixture
def service(own_redis, result, tmp_path: Path):
    from training.publish.redis_publisher import publish_result

    publish_result(result, own_redis.url)
    g = start_gunicorn(own_redis.url, tmp_path, RECSVC_API_KEYS=KEYS)
    yield g
    g.stop()


def _sources(g, user: str, n: int = 12) -> set[str]:
    """Answers from both workers: a new connection per request spreads them."""
    return {g.get(f"/v1/users/{user}/recommendations?n=5").json()["source"] for _ in range(n)}


def _from_memory(g) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(g.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "recsvc_user_state_total" and sample.labels.get("source") == "memory":
                return sample.value
    return 0.0


def _cached_everywhere(g, user: str) -> None:
    """Ask until every answer comes from the workers' memory (list and live state cached in both)."""

    def all_from_memory() -> bool:
        before = _from_memory(g)
        sources = _sources(g, user)
        return sources == {"personalized"} and _from_memory(g) - before == 12

    assert _eventually(all_from_memory, timeout=5)


def _eventually(fn, timeout: float = 2.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.02)
    return fn()


def _segment_members(g, segment: str) -> list[str]:
    users, cursor = [], None
    while True:
        page = g.get(f"/v1/segments/{segment}/users?limit=7" + (f"&cursor={cursor}" if cursor else "")).json()
        users += [u["user_id"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return users


def _audience(g, offer: str) -> tuple[list[str], list[str]]:
    """Every user of the offer's two groups as JSON pages and as CSV."""
    pages, rows = [], []
    for group in ("treatment", "holdout"):
        cursor = None
        while True:
            url = f"/v1/campaigns/{offer}/audience?group={group}&limit=9" + (f"&cursor={cursor}" if cursor else "")
            page = g.get(url).json()
            pages += [u["user_id"] for u in page["users"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        text = g.get(f"/v1/campaigns/{offer}/audience?group={group}&format=csv").text
        rows += [r["user_id"] for r in csv.DictReader(io.StringIO(text))]
    return pages, rows


def _access_lines(g) -> list[dict]:
    out = []
    for line in Path(g.log).read_text().splitlines():
        if line.startswith("{") and '"recsvc.access"' in line:
            out.append(json.loads(line))
    return out


def test_delete_erases_the_customer_from_every_worker_and_redis_and_answers_a_receipt(service, own_redis) -> None:
    g = service
    _cached_everywhere(g, ERASED)
    assert g.get(f"/v1/users/{ERASED}/profile").status_code == 200
    assert requests.delete(f"{g.base}/v1/users/{ERASED}", timeout=5).status_code == 401
    assert requests.delete(f"{g.base}/v1/users/{ERASED}", headers={"X-API-Key": "nope"}, timeout=5).status_code == 403

    resp = requests.delete(f"{g.base}/v1/users/{ERASED}", headers=HEADERS, timeout=5)
    assert resp.status_code == 200
    receipt = resp.json()
    assert receipt["erased"] is True and receipt["user_id"] == ERASED
    assert receipt["removed"]["recommendations"] == 1 and receipt["removed"]["profile"] == 1
    assert receipt["total_removed"] == sum(receipt["removed"].values())

    assert traces(own_redis.client(), ERASED) == []
    assert _eventually(lambda: _sources(g, ERASED) == {"popular"})  # no worker answers from memory
    assert g.get(f"/v1/users/{ERASED}/profile").status_code == 404
    assert g.get(f"/v1/users/{ERASED}/offers").json()["offers"] == []
    (audit,) = erasure.audit_log(own_redis.client())
    assert audit.requested_by == "api key #2" and audit.user_hash == receipt["user_hash"]
    # The access log shows the route of the erasure, never the id in its path.
    lines = [x for x in _access_lines(g) if x["method"] == "DELETE"]
    assert [x["status"] for x in lines] == [401, 403, 200]
    assert all(x["path"] == "/v1/users/<path:user_id>" and ERASED not in json.dumps(x) for x in lines)
    # Events the shop still sends for the customer are dropped, and said so.
    events = {"events": [{"user_id": u, "item_id": "I000001", "event": "view"} for u in (ERASED, NO_MARKETING)]}
    answer = requests.post(f"{g.base}/v1/events", json=events, headers=HEADERS, timeout=5).json()
    assert answer["accepted"] == 1 and answer["suppressed"] == 1
    assert traces(own_redis.client(), ERASED) == []
    # Erasing again is harmless.
    again = requests.delete(f"{g.base}/v1/users/{ERASED}", headers=HEADERS, timeout=5).json()
    assert again["total_removed"] == 0


def test_an_erasure_by_the_cli_reaches_what_every_worker_holds_in_memory(service, own_redis) -> None:
    """No worker took part in this erasure: each must notice by itself that its cached list is gone."""
    g = service
    _cached_everywhere(g, ERASED)
    res = python_m("training", "forget", "--redis", own_redis.url, "--user", ERASED)
    assert res.returncode == 0, res.stderr
    assert _eventually(lambda: _sources(g, ERASED) == {"popular"})


def test_opted_out_customers_get_popular_lists_and_appear_in_no_segment_audience_or_csv(service, own_redis) -> None:
    g = service
    segments = g.get(f"/v1/users/{NO_PROFILING}/profile").json()["segment_ids"].values()
    assert segments and all(NO_PROFILING in _segment_members(g, s) for s in segments)
    _cached_everywhere(g, NO_PROFILING)
    for user in (NO_PROFILING, NO_MARKETING):
        assert g.get(f"/v1/users/{user}/offers").json()["offers"]
        pages, rows = _audience(g, "everyone")
        assert user in pages and user in rows

    url = f"{g.base}/v1/users/{NO_PROFILING}/consent"
    resp = requests.put(url, json={"profiling": False, "marketing": True}, headers=HEADERS, timeout=5)
    assert resp.status_code == 200
    assert resp.json() | {"stated_at": 0} == {
        "user_id": NO_PROFILING,
        "applied": True,
        "profiling": False,
        "marketing": True,
        "stated_at": 0,
        "source": "api",
    }
    body = {"profiling": True, "marketing": False}
    assert requests.put(f"{g.base}/v1/users/{NO_MARKETING}/consent", json=body, headers=HEADERS, timeout=5).ok

    assert _eventually(lambda: _sources(g, NO_PROFILING) == {"popular"})  # every worker, within a second
    popular = g.get("/v1/popular?n=5").json()["items"]
    assert [i["item_id"] for i in g.get(f"/v1/users/{NO_PROFILING}/recommendations?n=5").json()["items"]] == [
        i["item_id"] for i in popular
    ]  # the anonymous visitor's list
    missing = g.get(f"/v1/users/{NO_PROFILING}/profile")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "profiling_opted_out"
    assert all(NO_PROFILING not in _segment_members(g, s) for s in segments)
    assert _sources(g, NO_MARKETING) == {"personalized"}  # marketing alone: still personal lists
    assert g.get(f"/v1/users/{NO_MARKETING}/profile").status_code == 200
    pages, rows = _audience(g, "everyone")
    for user in (NO_PROFILING, NO_MARKETING):
        assert g.get(f"/v1/users/{user}/offers").json() | {"model_version": None} == {
            "user_id": user,
            "model_version": None,
            "holdout": False,
            "holdout_offers": [],
            "offers": [],
        }
        assert user not in pages and user not in rows
    assert len(pages) == len(rows) > 10  # everybody else is still there

    # An older statement (a delayed queue) does not undo the newer opt-out.
    old = {"profiling": True, "marketing": True, "stated_at": "2020-01-01T00:00:00Z"}
    answer = requests.put(url, json=old, headers=HEADERS, timeout=5).json()
    assert answer["applied"] is False and answer["profiling"] is False
    # Lines of the consent route name the rule, not the customer.
    puts = [x for x in _access_lines(g) if x["method"] == "PUT"]
    assert len(puts) == 3 and all(x["path"] == "/v1/users/<path:user_id>/consent" for x in puts)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"profiling": False}, "body.marketing: is required"),
        ({"profiling": "no", "marketing": True}, "body.profiling: must be true or false"),
        ({"profiling": True, "marketing": True, "email": "x"}, "body.email: unknown field"),
        ({"profiling": True, "marketing": True, "stated_at": "soon"}, "body.stated_at: must be ISO-8601"),
        ([True, False], "body must be a JSON object"),
    ],
)
def test_bad_consent_bodies_are_400_naming_the_field(client, body, field) -> None:
    resp = client.put("/v1/users/someone/consent", json=body, headers={"X-API-Key": "test-key-123"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_consent" and resp.get_json()["error"]["message"].startswith(
        field
    )


def test_without_configured_keys_erasure_and_consent_are_refused(redis_server, published) -> None:
    from recsvc.app import create_app
    from recsvc.settings import Settings

    open_app = create_app(Settings(redis_url=redis_server.url)).test_client()
    assert open_app.delete("/v1/users/someone").status_code == 403
    assert open_app.put("/v1/users/someone/consent", json={"profiling": True, "marketing": True}).status_code == 403


def test_answers_match_the_openapi_description(client) -> None:
    from tests.recsvc.api.test_openapi import _check

    headers = {"X-API-Key": "test-key-123"}
    _check(client.delete("/v1/users/schema-check-Z1", headers=headers), "/v1/users/{user_id}", "delete")
    _check(client.delete("/v1/users/schema-check-Z1"), "/v1/users/{user_id}", "delete")  # 401
    body = {"profiling": False, "marketing": True}
    _check(
        client.put("/v1/users/schema-check-Z2/consent", json=body, headers=headers),
        "/v1/users/{user_id}/consent",
        "put",
    )
    _check(
        client.put("/v1/users/schema-check-Z2/consent", json={}, headers=headers), "/v1/users/{user_id}/consent", "put"
    )


def test_the_dashboard_counts_erasures_and_opt_outs_and_names_nobody(service, own_redis) -> None:
    import base64

    g = service
    requests.delete(f"{g.base}/v1/users/{ERASED}", headers=HEADERS, timeout=5)
    for user, body in (
        (NO_PROFILING, {"profiling": False, "marketing": True}),
        (NO_MARKETING, {"profiling": True, "marketing": False}),
    ):
        requests.put(f"{g.base}/v1/users/{user}/consent", json=body, headers=HEADERS, timeout=5)
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:first-key-1").decode()}
    html = g.get("/dashboard", headers=auth).text
    for name, count in (("erased", 1), ("profiling", 1), ("marketing", 1), ("statements", 2), ("audit_records", 1)):
        assert f'<td id="privacy-{name}">{count}</td>' in html
    assert all(u not in html for u in (ERASED, NO_PROFILING, NO_MARKETING))
