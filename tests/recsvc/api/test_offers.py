from __future__ import annotations

import csv
import io

import pytest

from contract import keys
from tests.conftest import API_KEY, run_training


def _assignments(run_result, offer_id: str, group: str) -> list[str]:
    a = run_result.offers.assignments
    return sorted(a[(a.offer_id == offer_id) & (a.group == group)].user_id)


def test_user_offers(client, run_result) -> None:
    treated = _assignments(run_result, "vip", "treatment")[0]
    body = client.get(f"/v1/users/{treated}/offers").get_json()
    assert body["holdout"] is False
    vip = next(o for o in body["offers"] if o["offer_id"] == "vip")
    assert set(vip) >= {"offer_id", "title", "discount_pct", "expected_value", "items"} and vip["expected_value"] > 0
    assert all(o["offer_id"] not in ("past", "future") for o in body["offers"])


def test_user_without_offers_gets_an_empty_list(client) -> None:
    body = client.get("/v1/users/nobody-here/offers").get_json()
    assert body == {
        "user_id": "nobody-here",
        "model_version": body["model_version"],
        "holdout": False,
        "holdout_offers": [],
        "offers": [],
    }


def test_holdout_users_receive_no_offer_of_that_campaign(client, run_result) -> None:
    held = _assignments(run_result, "vip", "holdout")
    assert held, "expected some holdout users with holdout_pct 20"
    body = client.get(f"/v1/users/{held[0]}/offers").get_json()
    assert body["holdout"] is True and "vip" not in {o["offer_id"] for o in body["offers"]}


def test_campaigns(client, run_result) -> None:
    body = client.get("/v1/campaigns").get_json()
    by_id = {c["offer_id"]: c for c in body["campaigns"]}
    assert by_id["past"]["status"] == "expired" and by_id["future"]["status"] == "scheduled"
    assert by_id["vip"]["status"] == "active"
    for c in body["campaigns"]:
        assert c["expected_cost"] <= c["budget"]
    assert by_id["vip"]["audience_size"] == len(_assignments(run_result, "vip", "treatment"))
    assert by_id["vip"]["holdout_size"] == len(_assignments(run_result, "vip", "holdout"))
    assert by_id["past"]["audience_size"] == 0


@pytest.mark.parametrize("group", ["treatment", "holdout"])
def test_audience_pages_are_complete_without_duplicates(client, run_result, group: str) -> None:
    seen, cursor = [], None
    for _ in range(500):
        body = client.get(
            f"/v1/campaigns/vip/audience?group={group}&limit=7" + (f"&cursor={cursor}" if cursor else "")
        ).get_json()
        seen += [u["user_id"] for u in body["users"]]
        assert all(set(u) == {"user_id", "expected_value", "items"} for u in body["users"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(set(seen)) == _assignments(run_result, "vip", group)


def test_audience_csv(client, run_result) -> None:
    resp = client.get("/v1/campaigns/vip/audience?format=csv")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["user_id"] for r in rows] == _assignments(run_result, "vip", "treatment")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/campaigns/nope/audience", 404, "unknown_campaign"),
        ("/v1/campaigns/vip/audience?group=x", 400, "invalid_parameter"),
        ("/v1/campaigns/vip/audience?limit=0", 400, "invalid_parameter"),
        ("/v1/campaigns/vip/audience?format=xml", 400, "invalid_parameter"),
        ("/v1/campaigns/vip/audience?cursor=@@", 400, "invalid_parameter"),
        ("/v1/campaigns/nope/report", 404, "unknown_campaign"),
    ],
)
def test_bad_campaign_requests(client, path: str, status: int, code: str) -> None:
    resp = client.get(path)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code


def _post(client, offer: str, body, key: str | None = API_KEY):
    headers = {"X-API-Key": key} if key else {}
    return client.post(f"/v1/campaigns/{offer}/outcomes", json=body, headers=headers)


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403), ("", 401)])
def test_outcomes_need_a_valid_key(client, key, status) -> None:
    resp = _post(client, "vip", {"outcomes": [{"user_id": "x"}]}, key)
    assert resp.status_code == status and resp.is_json


def test_bad_outcomes_name_the_entry_and_field(client, run_result) -> None:
    user = _assignments(run_result, "vip", "treatment")[0]
    held = _assignments(run_result, "vip", "holdout")[0]
    cases = [
        ({"outcomes": [{"user_id": user, "revenue": -1}]}, "outcomes[0].revenue"),
        ({"outcomes": [{"user_id": user}, {"user_id": user, "sent": "yes"}]}, "outcomes[1].sent"),
        ({"outcomes": [{"user_id": "stranger"}]}, "not in the audience"),
        ({"outcomes": [{"user_id": held, "redeemed": True}]}, "holdout group"),
        ({"outcomes": [{"user_id": user, "colour": 1}]}, "outcomes[0].colour"),
        ({"outcomes": []}, "1 to 1000"),
        ([1, 2], "body must be JSON"),
    ]
    for body, fragment in cases:
        resp = _post(client, "vip", body)
        assert resp.status_code == 400 and fragment in resp.get_json()["error"]["message"], (body, resp.get_json())


def test_outcomes_feed_the_uplift_report(client, redis_server, run_result) -> None:
    redis_server.client().delete(keys.outcomes("vip"))
    treated = _assignments(run_result, "vip", "treatment")
    held = _assignments(run_result, "vip", "holdout")
    outcomes = [
        {"user_id": u, "sent": True, "redeemed": i % 2 == 0, "converted": i % 2 == 0, "revenue": 10.0}
        for i, u in enumerate(treated)
    ]
    outcomes = [o if o["converted"] else o | {"revenue": 0.0} for o in outcomes]
    outcomes += [{"user_id": u, "converted": True, "revenue": 10.0} for u in held[:1]]
    for start in range(0, len(outcomes), 1000):
        assert _post(client, "vip", {"outcomes": outcomes[start : start + 1000]}).status_code == 202
    report = client.get("/v1/campaigns/vip/report").get_json()
    t, h = report["groups"]["treatment"], report["groups"]["holdout"]
    conv_t = sum(o["converted"] for o in outcomes[: len(treated)])
    assert t["users"] == len(treated) and t["conversions"] == conv_t and h["conversions"] == 1
    assert t["conversion_rate"] == pytest.approx(conv_t / len(treated))
    diff = report["uplift"]["conversion_rate"]
    assert diff["difference"] == pytest.approx(conv_t / len(treated) - 1 / len(held))
    assert diff["ci95"][0] < diff["difference"] < diff["ci95"][1]
    assert report["verdict"] in ("uplift", "no difference yet")
    redis_server.client().delete(keys.outcomes("vip"))


def test_bad_catalog_is_rejected_and_published_version_untouched(redis_server, published, shop_dir, tmp_path) -> None:
    bad = tmp_path / "offers.json"
    bad.write_text(
        '{"offers": [{"offer_id": "x", "title": "t", "target": {"min_clv": 0}, "discount_pct": 10, '
        '"cost_per_send": 0, "cost_per_redemption": 0, "budget": -1, "valid_from": "2026-01-01", '
        '"valid_to": "2026-02-01"}]}'
    )
    before = redis_server.client().get(keys.ACTIVE)
    res = run_training(shop_dir, "--offers", str(bad), "--redis", redis_server.url)
    assert res.returncode == 2
    assert "offer 'x', field 'budget': must be > 0" in res.stderr
    assert redis_server.client().get(keys.ACTIVE) == before
