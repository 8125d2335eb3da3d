"""Through real gunicorn processes and a real Redis: retrain while serving, crash mid-publish, Redis outage."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import requests

from contract import keys
from tests.conftest import ROOT, run_training, start_gunicorn, train_cmd


def test_gunicorn_serves_all_endpoints(gunicorn, run_result, published) -> None:
    user = str(run_result.user_ids[3])
    body = gunicorn.get(f"/v1/users/{user}/recommendations?n=7").json()
    assert body["source"] == "personalized" and len(body["items"]) == 7 and body["model_version"] == published
    assert gunicorn.get(f"/v1/items/{run_result.item_ids[0]}/similar").status_code == 200
    assert gunicorn.get("/v1/popular?n=100").status_code == 200
    assert gunicorn.get("/readyz").status_code == 200
    assert gunicorn.get("/v1/users/x/recommendations?n=1000").status_code == 400
    assert "recsvc_request_seconds" in gunicorn.get("/metrics").text


def test_retrain_while_polling_never_fails(own_redis, run_result, shop_dir, tmp_path) -> None:
    from training.publish.redis_publisher import publish_result

    first = publish_result(run_result, own_redis.url)
    g = start_gunicorn(own_redis.url, tmp_path)
    user = str(run_result.user_ids[5])
    seen_versions: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                r = requests.get(f"{g.base}/v1/users/{user}/recommendations?n=10", timeout=5)
                body = r.json()
                if r.status_code != 200 or len(body["items"]) != 10 or body["source"] != "personalized":
                    failures.append(f"{r.status_code} {body}")
                seen_versions.append(body["model_version"])
            except Exception as exc:  # noqa: BLE001 - any failure is what we count
                failures.append(repr(exc))

    threads = [threading.Thread(target=poll) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        res = run_training(shop_dir, "--redis", own_redis.url, "--seed", "5")
        assert res.returncode == 0, res.stderr
        second = own_redis.client().get(keys.ACTIVE).decode()
        deadline = time.time() + 5
        while time.time() < deadline and (not seen_versions or seen_versions[-1] != second):
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        g.stop()
    assert second != first
    assert not failures, failures[:3]
    assert seen_versions[0] == first and seen_versions[-1] == second
    assert set(seen_versions) == {first, second}


def test_killed_publisher_leaves_previous_version_serving(own_redis, run_result, shop_dir, tmp_path) -> None:
    from training.publish.redis_publisher import publish_result

    first = publish_result(run_result, own_redis.url)
    client = own_redis.client()
    g = start_gunicorn(own_redis.url, tmp_path)
    try:
        proc = subprocess.Popen(
            train_cmd(shop_dir, "--redis", own_redis.url, "--publish-batch", "1"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stale = None
        deadline = time.time() + 120
        while time.time() < deadline and stale is None:
            states = {k.decode(): v.decode() for k, v in client.hgetall(keys.VERSION_STATE).items()}
            writing = [v for v, s in states.items() if s == keys.WRITING]
            if writing and client.exists(keys.recs(writing[0], str(run_result.user_ids[0]))):
                stale = writing[0]
            time.sleep(0.005)
        assert stale, "publisher never started writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert client.get(keys.ACTIVE).decode() == first
        partial = len(list(client.scan_iter(match=keys.version_pattern(stale))))
        assert partial > 0
        body = g.get(f"/v1/users/{run_result.user_ids[0]}/recommendations").json()
        assert body["model_version"] == first and body["source"] == "personalized"
        assert g.get("/readyz").json()["model_version"] == first
        # The next run removes the stale partial version and becomes active.
        third = publish_result(run_result, own_redis.url)
        assert client.get(keys.ACTIVE).decode() == third
        assert not list(client.scan_iter(match=keys.version_pattern(stale)))
        assert client.hget(keys.VERSION_STATE, stale) is None
    finally:
        g.stop()


def test_redis_outage_falls_back_and_recovers(own_redis, run_result, tmp_path) -> None:
    from training.publish.redis_publisher import publish_result

    version = publish_result(run_result, own_redis.url)
    g = start_gunicorn(own_redis.url, tmp_path, WEB_CONCURRENCY="1")
    user = str(run_result.user_ids[2])
    try:
        assert g.get(f"/v1/users/{user}/recommendations").json()["source"] == "personalized"
        own_redis.stop()
        time.sleep(0.3)  # past RECSVC_VERSION_CACHE_S, so the next request must ask Redis
        for path in (
            f"/v1/users/{user}/recommendations?n=5",
            "/v1/popular?n=5",
            f"/v1/items/{run_result.item_ids[0]}/similar?n=5",
        ):
            r = g.get(path)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["source"] == "fallback" and len(body["items"]) == 5 and body["model_version"] == version
        started = time.perf_counter()
        assert g.get("/readyz").status_code == 503
        assert time.perf_counter() - started < 2
        for path in ("/v1/model", "/v1/segments", f"/v1/users/{user}/profile", "/v1/campaigns", "/v1/experiments"):
            r = g.get(path)
            assert r.status_code == 503 and r.headers["Retry-After"] == "1", (path, r.text)
            assert r.json()["error"]["code"] == "redis_unavailable"
        event = {"user_id": user, "item_id": str(run_result.item_ids[0]), "event": "view"}
        r = requests.post(g.base + "/v1/events", json=event, timeout=5)
        assert r.status_code == 503 and r.json()["error"]["code"] == "redis_unavailable"
        own_redis.start()
        deadline = time.time() + 10
        source = None
        while time.time() < deadline and source != "personalized":
            time.sleep(0.2)
            source = g.get(f"/v1/users/{user}/recommendations").json()["source"]
        assert source == "personalized"
        # readiness reads the version state on its own schedule (the failure policy backs off): it recovers too, a moment later
        ready = g.get("/readyz").status_code
        while time.time() < deadline + 5 and ready != 200:
            time.sleep(0.2)
            ready = g.get("/readyz").status_code
        assert ready == 200
        assert "recsvc_fallback_total" in g.get("/metrics").text
    finally:
        g.stop()


def test_bad_configuration_fails_at_start_with_a_clear_message(tmp_path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["RECSVC_BIND"] = "127.0.0.1:0"
    res = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "recsvc.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "REDIS_URL is required" in res.stdout + res.stderr
