from __future__ import annotations

import json
import logging

import pytest

from recsvc.app import create_app
from recsvc.logs import JsonFormatter
from recsvc.settings import Settings, SettingsError


def test_healthz_and_readyz(client, published) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["model_version"] == published


def test_readyz_503_without_a_published_version(own_redis) -> None:
    app = create_app(Settings(redis_url=own_redis.url))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["reason"] == "no active model version"
    body = app.test_client().get("/v1/users/u/recommendations").get_json()
    assert body["source"] == "fallback" and body["items"] == []
    for path in ("/v1/model", "/v1/segments", "/v1/campaigns", "/v1/users/u/offers"):
        resp = app.test_client().get(path)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "no_active_version", path


def test_model_endpoint(client, published) -> None:
    body = client.get("/v1/model").get_json()
    assert body["model_version"] == published and body["trained_at"] and body["users"] == 300


def test_metrics_and_request_id(client) -> None:
    resp = client.get("/v1/popular", headers={"X-Request-ID": "abc123"})
    assert resp.headers["X-Request-ID"] == "abc123"
    text = client.get("/metrics").get_data(as_text=True)
    assert "recsvc_request_seconds_bucket" in text and 'endpoint="/v1/popular"' in text


def test_access_log_lines_carry_the_request(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="recsvc.access"):
        first = client.get("/v1/users/caf%C3%A9/recommendations?n=3")
        second = client.get("/nope")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids) and ids[0] != ids[1]  # generated, distinct
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "recsvc.access"]
    assert [(x["method"], x["path"], x["status"], x["request_id"]) for x in lines] == [
        ("GET", "/v1/users/café/recommendations", 200, ids[0]),
        ("GET", "/nope", 404, ids[1]),
    ]
    assert all(x["duration_ms"] >= 0 for x in lines)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="unmatched"' in text and 'endpoint="/v1/users/<path:user_id>/recommendations"' in text


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/nope", 404), ("post", "/v1/popular", 405), ("delete", "/healthz", 405)]
)
def test_routing_errors_are_json(client, method: str, path: str, status: int) -> None:
    resp = getattr(client, method)(path)
    assert resp.status_code == status and resp.is_json and "error" in resp.get_json()


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "REDIS_URL is required"),
        ({"REDIS_URL": "http://x"}, "redis://"),
        ({"REDIS_URL": "redis://h:notaport/0"}, "invalid port"),
        ({"REDIS_URL": "redis://h:1/0", "RECSVC_REDIS_TIMEOUT_S": "fast"}, "RECSVC_REDIS_TIMEOUT_S"),
        ({"REDIS_URL": "redis://h:1/0", "RECSVC_LOG_LEVEL": "LOUD"}, "RECSVC_LOG_LEVEL"),
    ],
)
def test_bad_settings(env: dict, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)
