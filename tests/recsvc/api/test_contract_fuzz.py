"""Contract fuzzing with schemathesis against a real gunicorn process over a real Redis.

Bounded: 15 generated requests per operation and mode, schema-valid (positive) and schema-invalid
(negative). Every schemathesis check runs: answers are documented, match their schema and content
type (JSON for every error), never a 5xx, and every request the schema forbids is refused. Not
checked: "schema-valid data is accepted", since the service rejects some schema-valid values on
purpose with a 400 (an unknown category, a cursor it did not issue, an id unknown to the catalog).
A request line over gunicorn's limit is refused with a JSON 414 (documented for every operation), which
counts as a rejection of schema-invalid data like a 400 does.
(schemathesis' own pytest plugin does not run under this pytest, so each operation's hypothesis
strategy is driven directly.)
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.generation import GenerationMode

from contract import keys
from recsvc.api.docs import spec
from tests.conftest import API_KEY, start_gunicorn

EXCLUDED = [checks.positive_data_acceptance]
CONFIG = {
    "checks": {"negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "414"]}}
}
OPERATIONS = [
    (path, method, mode)
    for path, ops in spec()["paths"].items()
    for method, op in ops.items()
    # An operation without parameters or body has no schema-invalid request to make.
    for mode in (GenerationMode if op.get("parameters") or op.get("requestBody") else [GenerationMode.POSITIVE])
]


@pytest.fixture(scope="module")
def service(redis_server, published, tmp_path_factory):
    g = start_gunicorn(redis_server.url, tmp_path_factory.mktemp("fuzz"), RECSVC_API_KEYS=API_KEY)
    yield g
    g.stop()
    # The fuzzer may hide items and set rules through the live catalog and rules endpoints: undo that for the
    # tests that share this Redis.
    redis_server.client().delete(keys.CATALOG_OVERLAY, keys.RULES)
    redis_server.client().incr(keys.MERCH_SEQ)


@pytest.fixture(scope="module")
def api_schema(service):
    return schemathesis.openapi.from_url(f"{service.base}/openapi.json", config=SchemathesisConfig.from_dict(CONFIG))


@pytest.mark.parametrize(
    ("path", "method", "mode"), OPERATIONS, ids=[f"{m.upper()} {p} {g.value}" for p, m, g in OPERATIONS]
)
def test_operation_contract(api_schema, service, path: str, method: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "15")),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case) -> None:
        case.call_and_validate(base_url=service.base, headers={"X-API-Key": API_KEY}, excluded_checks=EXCLUDED)

    check()
