"""Contract fuzzing with schemathesis against a real gunicorn process over a real Redis.

Bounded: 15 generated requests per operation. Every answer must be documented, match its schema,
carry the documented content type (JSON for every error), and never be a 5xx. Not checked:
schemathesis' "schema-valid data is accepted", since the service rejects some schema-valid values
on purpose with a 400 (an unknown category, a cursor it did not issue, a malformed timestamp).
(schemathesis' own pytest plugin does not run under this pytest, so each operation's hypothesis
strategy is driven directly.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from recsvc.api.docs import spec
from tests.conftest import API_KEY, start_gunicorn

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
OPERATIONS = [(path, method) for path, ops in spec()["paths"].items() for method in ops]


@pytest.fixture(scope="module")
def service(redis_server, published, tmp_path_factory):
    g = start_gunicorn(redis_server.url, tmp_path_factory.mktemp("fuzz"), RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def api_schema(service):
    return schemathesis.openapi.from_url(f"{service.base}/openapi.json")


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_operation_contract(api_schema, service, path: str, method: str) -> None:
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:
        case.call_and_validate(base_url=service.base, headers={"X-API-Key": API_KEY}, checks=CHECKS)

    check()
