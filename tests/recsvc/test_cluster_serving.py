"""The service through real gunicorn on a real 3 x 3 Redis Cluster: every endpoint, live events, experiment
counters, and a master killed while clients poll."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests
from redis.crc import key_slot

from contract import connection, keys
from tests.conftest import API_KEY, start_gunicorn
from tools.harness import Gunicorn, RedisCluster3x3
from training.publish.redis_publisher import connect, publish_result

H = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def cluster_published(redis_cluster: RedisCluster3x3, run_result) -> str:
    return publish_result(run_result, redis_cluster.url)


@pytest.fixture
def cluster_gunicorn(redis_cluster, cluster_published, tmp_path):
    g = start_gunicorn(redis_cluster.url, tmp_path, RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()


def test_every_endpoint_answers_from_the_cluster(cluster_gunicorn: Gunicorn, cluster_published, run_result) -> None:
    g = cluster_gunicorn
    user, item = str(run_result.user_ids[3]), str(run_result.item_ids[0])
    body = g.get(f"/v1/users/{user}/recommendations?n=7").json()
    assert body["source"] == "personalized" and len(body["items"]) == 7 and body["model_version"] == cluster_published
    assert set(i["item_id"] for i in body["items"]) <= set(run_result.rec_items[3])  # purchases filtered out
    assert g.get(f"/v1/items/{item}/similar?n=5").json()["source"] == "similar"
    assert g.get("/v1/popular?n=5").json()["source"] == "popular"
    assert g.get(f"/v1/users/{user}/profile").status_code == 200
    segments = g.get("/v1/segments").json()["segments"]
    biggest = max(segments, key=lambda s: s["size"])
    first = g.get(f"/v1/segments/{biggest['id']}/users?limit=5").json()
    second = g.get(f"/v1/segments/{biggest['id']}/users?limit=5&cursor={first['next_cursor']}").json()
    assert len(first["users"]) == 5 and first["users"][-1]["user_id"] < second["users"][0]["user_id"]
    campaigns = g.get("/v1/campaigns").json()["campaigns"]
    assert campaigns and g.get(f"/v1/campaigns/{campaigns[0]['offer_id']}/audience?limit=3").status_code == 200
    assert g.get("/v1/model").json()["model_version"] == cluster_published
    for path in ("/v1/trending?n=5", "/v1/new-arrivals?n=5", f"/v1/items/{item}/bought-together?n=5"):
        assert g.get(path).status_code == 200, path
    ready = g.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"] == cluster_published


def test_live_events_on_the_cluster(cluster_gunicorn: Gunicorn, cluster_published, run_result, redis_cluster) -> None:
    g = cluster_gunicorn
    users = [str(u) for u in run_result.user_ids[10:16]]
    before = {u: g.get(f"/v1/users/{u}/recommendations?n=10").json()["items"][0]["item_id"] for u in users}
    batch = [{"user_id": u, "item_id": before[u], "event": "purchase", "price": 3.0} for u in users]
    batch += [{"user_id": "cluster-anon", "item_id": str(run_result.item_ids[1]), "event": "view"}]
    r = requests.post(f"{g.base}/v1/events", json={"events": batch}, headers=H, timeout=5)
    assert r.status_code == 202 and len(r.json()["ids"]) == len(batch)
    shards = {int(i.split(":")[0]) for i in r.json()["ids"]}
    assert shards == {keys.event_shard(e["user_id"], keys.EVENT_SHARDS) for e in batch}
    for u in users:  # a purchase leaves the user's list at once, whichever master holds them
        after = g.get(f"/v1/users/{u}/recommendations?n=10").json()
        assert after["source"] == "personalized" and before[u] not in [i["item_id"] for i in after["items"]]
    session = g.get("/v1/users/cluster-anon/recommendations?n=5").json()
    assert session["source"] == "session" and len(session["items"]) == 5
    client = connect(redis_cluster.url)
    assert sum(client.xlen(s) for s in keys.event_streams(keys.EVENT_SHARDS)) >= len(batch)


def _content(client, key: bytes):
    """What a key holds, whatever its type (DUMP's bytes depend on the node's hash-table order)."""
    kind = client.type(key)
    if kind == b"string":
        return client.get(key)
    if kind == b"hash":
        return client.hgetall(key)
    if kind == b"zset":
        return client.zrange(key, 0, -1, withscores=True)
    raise AssertionError(f"{key!r} is a {kind!r}")


def test_a_live_catalog_change_reaches_every_worker_on_the_cluster(cluster_gunicorn: Gunicorn, run_result) -> None:
    """The overlay and its count sit on the `{meta}` master; every worker watches them there."""
    g = cluster_gunicorn
    user = str(run_result.user_ids[20])
    shown = g.get(f"/v1/users/{user}/recommendations?n=10").json()["items"][0]["item_id"]
    r = requests.patch(f"{g.base}/v1/items/{shown}", json={"available": False}, headers=H, timeout=5)
    assert r.status_code == 200, r.text
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # both workers (new connections land on either)
            answers = [
                requests.get(f"{g.base}/v1/users/{user}/recommendations?n=10", timeout=5).json() for _ in range(6)
            ]
            if all(shown not in [i["item_id"] for i in a["items"]] for a in answers):
                break
            time.sleep(0.05)
        assert all(shown not in [i["item_id"] for i in a["items"]] for a in answers)
    finally:
        requests.patch(f"{g.base}/v1/items/{shown}", json={"available": True}, headers=H, timeout=5)


def _polls(g: Gunicorn, path: str, stop: threading.Event, log: list) -> None:
    session = requests.Session()
    while not stop.is_set():
        t = time.monotonic()
        try:
            r = session.get(g.base + path, timeout=5)
            log.append((t, r.status_code, r.json().get("source") if r.status_code == 200 else r.text[:200]))
        except Exception as exc:  # noqa: BLE001 - any failure is what we count
            log.append((t, 0, repr(exc)))


def test_a_killed_master_fails_no_request_and_loses_no_published_data(own_cluster, run_result, tmp_path) -> None:
    """The master holding the active pointer and a third of the users is SIGKILLed while clients poll."""
    version = publish_result(run_result, own_cluster.url)
    client = connect(own_cluster.url)
    stored = {k: _content(client, k) for k in connection.scan_all(client, keys.version_pattern(version))}
    own_cluster.wait_replicated()
    pointer_master = own_cluster.master_of(keys.ACTIVE)
    users = [str(u) for u in run_result.user_ids[:200]]
    victim = next(u for u in users if own_cluster.master_of(keys.recent(u)) == pointer_master)
    other = next(u for u in users if own_cluster.master_of(keys.recent(u)) != pointer_master)
    g = start_gunicorn(own_cluster.url, tmp_path)
    logs: dict[str, list] = {"victim": [], "other": [], "popular": []}
    paths = {
        "victim": f"/v1/users/{victim}/recommendations?n=5",
        "other": f"/v1/users/{other}/recommendations?n=5",
        "popular": "/v1/popular?n=5",
    }
    stop = threading.Event()
    threads = [threading.Thread(target=_polls, args=(g, paths[k], stop, logs[k])) for k in logs for _ in range(2)]
    ready: list[tuple[float, int]] = []
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)  # both workers have read the version, the catalog and the fallback snapshot
        killed_at = time.monotonic()
        own_cluster.kill_master(keys.ACTIVE)
        back = None
        while time.monotonic() - killed_at < 30:
            ready.append((time.monotonic(), g.get("/readyz").status_code))
            recent = [s for t, _, s in logs["victim"][-6:] if t > killed_at]
            if back is None and len(recent) == 6 and all(s == "personalized" for s in recent):
                back = time.monotonic()
            if back is not None and ready[-1][1] == 200 and time.monotonic() - back > 1:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        g.stop()
    failed = {k: [x for x in log if x[1] != 200] for k, log in logs.items()}
    assert all(not f for f in failed.values()), {k: f[:3] for k, f in failed.items()}
    sources = {k: Counter(s for t, _, s in log if t > killed_at) for k, log in logs.items()}
    assert back is not None, sources
    assert sources["victim"]["fallback"] > 0 and sources["victim"]["personalized"] > 0, sources
    # the other masters' users and the popular lists never noticed (the pointer is kept while its
    # master is away)
    assert set(sources["other"]) == {"personalized"} and set(sources["popular"]) == {"popular"}, sources
    assert 503 in {s for _, s in ready} and ready[-1][1] == 200
    promoted = connect(own_cluster.url)
    assert promoted.get(keys.ACTIVE).decode() == version
    after = {k: _content(promoted, k) for k in connection.scan_all(promoted, keys.version_pattern(version))}
    assert after == stored  # every key of the published version, byte for byte
    # the node asked about the slots may learn of the promotion a gossip round later
    deadline = time.monotonic() + 10
    while own_cluster.master_of(keys.ACTIVE) == pointer_master and time.monotonic() < deadline:
        time.sleep(0.05)
    assert key_slot(keys.ACTIVE.encode()) and own_cluster.master_of(keys.ACTIVE) != pointer_master


def test_experiments_outcomes_and_an_erasure_on_the_cluster(own_cluster, shop_dir, offers_file, tmp_path) -> None:
    """`training run --redis redis+cluster://...` with an experiment; the attribution counters, the
    impressions and the outcomes (WATCH/MULTI on one slot) on the cluster, then `training forget`."""
    from recsvc.app import create_app
    from recsvc.settings import Settings
    from tests.conftest import run_training
    from tests.recsvc.api.test_experiments import EXPERIMENTS_YAML
    from tools.simulate import simulate

    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENTS_YAML)
    res = run_training(shop_dir, "--experiments", str(path), "--offers", str(offers_file), "--redis", own_cluster.url)
    assert res.returncode == 0, res.stderr
    client = create_app(Settings(redis_url=own_cluster.url, version_cache_s=0, api_keys=(API_KEY,))).test_client()
    sent = simulate(
        lambda p: client.get(p).get_json(),
        lambda p, b: client.post(p, json=b, headers=H).status_code,
        "home-recs",
        "treatment",
        users=200,
        lift=1.0,
        ctr=0.1,
        buy=0.5,
        seed=3,
    )
    by_name = {v["variant"]: v for v in client.get("/v1/experiments/home-recs/report").get_json()["variants"]}
    for name, tally in sent.items():
        assert (by_name[name]["users"], by_name[name]["impressions"], by_name[name]["clicks"]) == (
            tally["users"],
            tally["impressions"],
            tally["clicks"],
        )
    audience = client.get("/v1/campaigns/vip/audience?limit=20").get_json()["users"]
    outcomes = [{"user_id": u["user_id"], "sent": True, "converted": True, "revenue": 5.0} for u in audience]
    for _ in range(2):  # merged into what is stored, not added twice
        assert client.post("/v1/campaigns/vip/outcomes", json={"outcomes": outcomes}, headers=H).status_code == 202
    report = client.get("/v1/campaigns/vip/report").get_json()
    assert report["groups"]["treatment"]["conversions"] == len(audience)
    # an erasure on the cluster: every key of the customer goes, on whichever master it sits
    from tests.conftest import python_m

    erased = audience[0]["user_id"]
    client = connect(own_cluster.url)
    mine = [k for k in connection.scan_all(client, "*") if keys.user_tag(erased).encode() in k]
    assert mine
    res = python_m("training", "forget", "--redis", own_cluster.url, "--user", erased, timeout=120)
    assert res.returncode == 0, res.stderr
    assert [k for k in connection.scan_all(client, "*") if keys.user_tag(erased).encode() in k] == []
