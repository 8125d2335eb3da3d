"""The service's health as the dashboard shows it: requests per endpoint, latency quantiles, fallbacks."""

from __future__ import annotations

import math
import time

from prometheus_client.parser import text_string_to_metric_families

from recsvc import telemetry


def service_health(started_at: float) -> dict:
    """Request rate, p50/p99 latency (from histogram buckets) and fallbacks, from /metrics."""
    payload, _ = telemetry.render()
    requests_by_endpoint: dict[str, float] = {}
    buckets: dict[float, float] = {}
    fallbacks = 0.0
    for family in text_string_to_metric_families(payload.decode()):
        for s in family.samples:
            if s.name == "recsvc_request_seconds_count" and s.labels.get("endpoint", "").startswith("/v1/"):
                requests_by_endpoint[s.labels["endpoint"]] = requests_by_endpoint.get(s.labels["endpoint"], 0) + s.value
            elif s.name == "recsvc_request_seconds_bucket" and s.labels.get("endpoint", "").startswith("/v1/"):
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0) + s.value
            elif s.name == "recsvc_fallback_total":
                fallbacks += s.value
    total = sum(requests_by_endpoint.values())

    def quantile(q: float) -> str:
        for le in sorted(buckets):
            if total and buckets[le] >= q * total:
                return "> 2.5 s" if math.isinf(le) else f"<= {le * 1000:g} ms"
        return "n/a"

    uptime = max(1.0, time.time() - started_at)
    return {
        "requests": dict(sorted(requests_by_endpoint.items())) or {"none yet": 0},
        "summary": {
            "requests (API)": int(total),
            "request rate (per s, this worker's lifetime)": round(total / uptime, 2),
            "p50 latency": quantile(0.5),
            "p99 latency": quantile(0.99),
            "fallback answers": int(fallbacks),
        },
    }
