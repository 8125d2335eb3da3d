"""Bounds of live events and outcomes (contract.event_rules), through real gunicorn over a real Redis, and
reports that answer whatever is stored."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from contract import keys, records
from tests.conftest import API_KEY, start_gunicorn
from tests.recsvc.api.test_experiments import exp_client, experiment_published  # noqa: F401 - fixtures

H = {"X-API-Key": API_KEY}
DASHBOARD = {"Authorization": "Basic " + base64.b64encode(f"ops:{API_KEY}".encode()).decode()}
GOOD = {"user_id": "bounds-user", "item_id": "I000001", "event": "view"}


@pytest.fixture(scope="module")
def service(redis_server, published, tmp_path_factory):
    g = start_gunicorn(redis_server.url, tmp_path_factory.mktemp("bounds"), RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()


def _post(service, path: str, body) -> requests.Response:
    return requests.post(f"{service.base}{path}", json=body, headers=H, timeout=5)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"quantity": 1e41}, "quantity", "must be > 0 and <= 1e+06, got 1e+41"),
        ({"quantity": 0}, "quantity", "must be > 0"),
        ({"quantity": -1}, "quantity", "must be > 0"),
        ({"price": 1e308}, "price", "must be >= 0 and <= 1e+09"),
        ({"timestamp": 31536000}, "timestamp", "is before 1990-01-01"),
        ({"timestamp": "1971-01-01T00:00:00Z"}, "timestamp", "is before 1990-01-01"),
        ({"timestamp": time.time() + 3600}, "timestamp", "more than 300 seconds in the future"),
        ({"user_id": "a\x00b"}, "user_id", "must not contain control characters"),
        ({"user_id": "a\nb"}, "user_id", "must not contain control characters"),
        ({"item_id": "tab\there"}, "item_id", "must not contain control characters"),
        ({"user_id": "u" * 257}, "user_id", "at most 256 characters"),
        ({"user_id": " " + "u" * 256}, "user_id", "at most 256 characters"),  # counted as sent, not stripped
        ({"event": "like"}, "event", "must be one of"),
    ],
)
def test_out_of_bounds_events_are_400_naming_the_field(service, change: dict, field: str, fragment: str) -> None:
    resp = _post(service, "/v1/events", {"events": [GOOD, GOOD | change]})
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]["message"]
    assert message.startswith(f"events[1].{field}: ") and fragment in message, message


def test_event_names_ignore_case_and_unix_seconds_may_be_a_string(service, redis_server) -> None:
    stamp = int(time.time()) - 60
    resp = _post(service, "/v1/events", GOOD | {"event": " PURCHASE ", "timestamp": str(stamp), "quantity": 2})
    assert resp.status_code == 202, resp.text
    entry = redis_server.client().xrange(keys.EVENTS_STREAM, resp.json()["ids"][0], resp.json()["ids"][0])[0][1]
    event = records.decode(entry[records.STREAM_FIELD.encode()], records.StreamEvent)
    assert (event.event, event.timestamp, event.quantity) == ("purchase", float(stamp), 2.0)
    redis_server.client().delete(keys.recent("bounds-user"), keys.live_bought("bounds-user"), keys.EVENTS_STREAM)


def test_huge_revenue_is_refused(service, run_result) -> None:
    user = run_result.offers.assignments.query("offer_id == 'vip' and group == 'treatment'")["user_id"].iloc[0]
    resp = _post(service, "/v1/campaigns/vip/outcomes", {"outcomes": [{"user_id": user, "revenue": 1e308}]})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("outcomes[0].revenue: must be >= 0 and <= 1e+09")


def test_reports_answer_whatever_is_stored(service, redis_server, run_result) -> None:
    """Outcomes stored before the bounds existed (1e308, and inf from merging two of them) must not break
    the campaign report or the dashboard."""
    a = run_result.offers.assignments
    treated = a[(a.offer_id == "vip") & (a.group == "treatment")]["user_id"].tolist()[:3]
    c = redis_server.client()
    poison = [1e308, float("inf"), float("nan")]
    c.hset(
        keys.outcomes("vip"),
        mapping={
            u: records.encode(records.Outcome(group="treatment", converted=True, revenue=r))
            for u, r in zip(treated, poison)
        },
    )
    try:
        report = service.get("/v1/campaigns/vip/report")
        assert report.status_code == 200, report.text
        assert report.json()["groups"]["treatment"]["revenue"] == 2e15  # each read back at the bound
        page = service.get("/dashboard/campaigns", headers=DASHBOARD)
        assert page.status_code == 200 and "<svg" in page.text
    finally:
        c.delete(keys.outcomes("vip"))


def test_experiment_report_answers_stored_poison(exp_client, own_redis) -> None:  # noqa: F811
    c = own_redis.client()
    for variant in ("control", "treatment"):
        c.sadd(keys.experiment_counter("home-recs", variant, "users"), "a", "b", "c")
        c.hset(keys.experiment_counter("home-recs", variant, "revenue"), mapping={"a": "1e308", "b": "inf", "c": "1"})
    resp = exp_client.get("/v1/experiments/home-recs/report")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    treatment = next(v for v in resp.get_json()["variants"] if v["variant"] == "treatment")
    assert treatment["revenue_per_user"] == pytest.approx((2e15 + 1) / 3)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"item_id": "\t" + "i" * 256, "title": "T"}, "items[0].item_id: must be at most 256 characters"),
        ({"item_id": "new\titem", "title": "T"}, "items[0].item_id: must not contain control characters"),
        ({"item_id": "bulk-x", "title": "T", "category": " " + "c" * 256}, "items[0].category: must be at most 256"),
    ],
)
def test_live_catalog_lengths_count_what_was_sent(service, entry: dict, fragment: str) -> None:
    """A leading space or tab does not buy a 257th character, and an item id follows the id rules everywhere."""
    resp = _post(service, "/v1/items", {"items": [entry]})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["message"].startswith(fragment), resp.text
