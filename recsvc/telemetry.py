"""Prometheus metrics. Under gunicorn (PROMETHEUS_MULTIPROC_DIR set) every worker's samples add up."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_SECONDS = Histogram(
    "recsvc_request_seconds",
    "Request latency by endpoint",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CACHE = Counter("recsvc_cache_total", "Cached-list lookups by result (hit: precomputed list found)", ["result"])
FALLBACKS = Counter("recsvc_fallback_total", "Answers served from the in-process fallback", ["endpoint"])
REDIS_ERRORS = Counter("recsvc_redis_errors_total", "Redis calls that failed")
USER_STATE = Counter(
    "recsvc_user_state_total",
    "Per-user state lookups (cached list, purchases, live events) by where they were answered: "
    "memory (this worker's caches) or redis (one round trip)",
    ["source"],
)
USER_STATE_MEMORY = USER_STATE.labels(source="memory")
USER_STATE_REDIS = USER_STATE.labels(source="redis")
CACHE_HIT = CACHE.labels(result="hit")
CACHE_MISS = CACHE.labels(result="miss")
_latency_children: dict[tuple[str, str, int], object] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Record one request's latency; label children are cached (the lookup costs more than the observe)."""
    key = (endpoint, method, status)
    child = _latency_children.get(key)
    if child is None:
        child = _latency_children[key] = REQUEST_SECONDS.labels(endpoint=endpoint, method=method, status=status)
    child.observe(seconds)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
