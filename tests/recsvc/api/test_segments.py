from __future__ import annotations

import pytest

from contract import codecs, keys


def test_profile(client, run_result, published) -> None:
    user = str(run_result.customers.profiles.dropna(subset=["recency_days"]).index[0])
    body = client.get(f"/v1/users/{user}/profile").get_json()
    assert body["user_id"] == user and body["model_version"] == published
    assert set(body) >= {"segment", "cluster", "lifecycle_stage", "rfm", "clv"}
    assert set(body["rfm"]) == {"recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"}
    assert set(body["clv"]) == {"p_alive", "expected_purchases_90d", "expected_value_365d"}
    row = run_result.customers.profiles.loc[user]
    assert body["rfm"]["frequency"] == row.frequency and body["lifecycle_stage"] == row.lifecycle_stage


def test_unknown_profile_404(client) -> None:
    resp = client.get("/v1/users/nobody-at-all/profile")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_user"


def test_segments_list(client, run_result) -> None:
    segs = client.get("/v1/segments").get_json()["segments"]
    kinds = {s["kind"] for s in segs}
    assert kinds == {"rfm", "cluster", "lifecycle"}
    for s in segs:
        assert set(s) >= {"id", "name", "kind", "size", "description", "mean_clv"} and s["size"] > 0
    lifecycle_total = sum(s["size"] for s in segs if s["kind"] == "lifecycle")
    assert lifecycle_total == len(run_result.user_ids)


@pytest.mark.parametrize("limit", [1, 7, 10000])
def test_pagination_is_complete_and_stable(client, run_result, limit: int) -> None:
    segs = client.get("/v1/segments").get_json()["segments"]
    seg = max(segs, key=lambda s: s["size"])
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        url = f"/v1/segments/{seg['id']}/users?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).get_json()
        assert len(body["users"]) <= limit
        seen += [u["user_id"] for u in body["users"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == seg["size"]
    assert seen == sorted(seen)
    assert set(seen) == set(run_result.customers.members[seg["id"]])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_parameter"),
        ("limit=10001", "invalid_parameter"),
        ("limit=x", "invalid_parameter"),
        ("cursor=%%%", "invalid_parameter"),
        ("cursor=bm9uZQ", "invalid_parameter"),
    ],
)
def test_bad_page_parameters(client, query: str, code: str) -> None:
    seg = client.get("/v1/segments").get_json()["segments"][0]["id"]
    resp = client.get(f"/v1/segments/{seg}/users?{query}")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code


def test_unknown_segment_404(client) -> None:
    resp = client.get("/v1/segments/rfm.nope/users")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_segment"


def test_known_customer_without_a_list_gets_their_segments_popular_items(
    client, redis_server, run_result, published
) -> None:
    profiles = run_result.customers.profiles.dropna(subset=["recency_days"])
    user = str(profiles.index[-1])
    segment = f"rfm.{profiles.loc[user, 'segment'].replace('_', '-')}"
    r = redis_server.client()
    saved = r.get(keys.recs(published, user))
    catalog = list(codecs.decode_catalog(r.get(keys.catalog(published))))
    bought_only = codecs.encode_bought(  # as published for a customer the recommender made no list for
        [catalog.index(i) for i in codecs.decode_bought(saved, catalog)], saved[0] & ~codecs.NO_LIST
    )
    r.set(keys.recs(published, user), bought_only)
    try:
        body = client.get(f"/v1/users/{user}/recommendations?n=5").get_json()
    finally:
        r.set(keys.recs(published, user), saved)
    bought = set(run_result.purchased.get(user, []))
    expected = [i for i, _ in run_result.customers.segment_popular[segment] if i not in bought]
    showable = set(run_result.catalog[run_result.catalog.available & run_result.catalog.in_catalog].item_id)
    expected = [i for i in expected if i in showable][:5]
    assert body["source"] == "popular"
    assert [i["item_id"] for i in body["items"]] == expected
