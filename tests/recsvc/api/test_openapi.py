"""The OpenAPI description against the code: every route documented, every answer matching its schema."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from recsvc.api.docs import spec
from tests.conftest import API_KEY

# HTML pages for people, not part of the API contract
UNDOCUMENTED = {
    "/static/{filename}",
    "/docs/",
    "/docs/{path}",
    "/dashboard",
    "/dashboard/overview",
    "/dashboard/segments",
    "/dashboard/campaigns",
    "/dashboard/experiments",
    "/dashboard/rules",
}


def _documented_routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path in UNDOCUMENTED:
            continue
        out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_every_route_is_documented_and_nothing_else(app) -> None:
    documented = {(path, method) for path, ops in spec()["paths"].items() for method in ops}
    assert _documented_routes(app) == documented


def _validator(schema: dict) -> Draft202012Validator:
    """OpenAPI 3.1 schemas are JSON Schema 2020-12; refs resolve against the whole description."""
    document = Resource.from_contents({"$schema": "https://json-schema.org/draft/2020-12/schema", **spec()})
    registry = Registry().with_resource("urn:recsvc:openapi", document)
    return Draft202012Validator(_rebase(schema), registry=registry)


def _rebase(node):
    """Point local refs (#/components/...) at the registered document."""
    if isinstance(node, dict):
        return {
            k: ("urn:recsvc:openapi" + v if k == "$ref" and v.startswith("#/") else _rebase(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def _response_schema(path: str, method: str, status: int) -> dict:
    op = spec()["paths"][path][method]
    response = op["responses"][str(status)]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response["content"]["application/json"]["schema"]


def _check(resp, path: str, method: str = "get") -> None:
    schema = _response_schema(path, method, resp.status_code)
    errors = list(_validator(schema).iter_errors(resp.get_json()))
    assert not errors, f"{method.upper()} {path} {resp.status_code}: {errors[0].message}"


def test_the_validator_rejects_a_wrong_body() -> None:
    schema = _response_schema("/v1/users/{user_id}/recommendations", "get", 200)
    bad = {"user_id": "u", "model_version": "v", "source": "magic", "items": [{"item_id": 1}]}
    assert len(list(_validator(schema).iter_errors(bad))) >= 2


def test_responses_match_their_schemas(client, run_result) -> None:
    user = str(run_result.user_ids[0])
    item = str(run_result.item_ids[0])
    treated = run_result.offers.assignments.query("offer_id == 'vip'").user_id.iloc[0]
    seg = client.get("/v1/segments").get_json()["segments"][0]["id"]
    cases = [
        (f"/v1/users/{user}/recommendations?n=5", "/v1/users/{user_id}/recommendations"),
        ("/v1/users/stranger/recommendations", "/v1/users/{user_id}/recommendations"),
        ("/v1/users/x/recommendations?n=0", "/v1/users/{user_id}/recommendations"),
        (f"/v1/items/{item}/similar", "/v1/items/{item_id}/similar"),
        ("/v1/items/nope/similar", "/v1/items/{item_id}/similar"),
        ("/v1/popular?n=3", "/v1/popular"),
        ("/v1/popular?category=nope", "/v1/popular"),
        (f"/v1/users/{user}/profile", "/v1/users/{user_id}/profile"),
        ("/v1/users/nobody/profile", "/v1/users/{user_id}/profile"),
        ("/v1/segments", "/v1/segments"),
        (f"/v1/segments/{seg}/users?limit=2", "/v1/segments/{segment}/users"),
        (f"/v1/segments/{seg}/users?limit=0", "/v1/segments/{segment}/users"),
        (f"/v1/users/{treated}/offers", "/v1/users/{user_id}/offers"),
        ("/v1/campaigns", "/v1/campaigns"),
        ("/v1/campaigns/vip/audience?limit=3", "/v1/campaigns/{offer_id}/audience"),
        ("/v1/campaigns/nope/audience", "/v1/campaigns/{offer_id}/audience"),
        ("/v1/campaigns/vip/report", "/v1/campaigns/{offer_id}/report"),
        ("/v1/experiments", "/v1/experiments"),
        ("/v1/experiments/nope/report", "/v1/experiments/{experiment_id}/report"),
        ("/v1/model", "/v1/model"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
    ]
    for url, path in cases:
        _check(client.get(url), path)


@pytest.mark.parametrize(
    ("body", "key", "status"),
    [
        ({"user_id": "c1", "item_id": "i", "event": "view"}, API_KEY, 202),
        ({"events": "x"}, API_KEY, 400),
        ({"user_id": "c1", "item_id": "i", "event": "view"}, None, 401),
        ({"user_id": "c1"}, "bad", 403),
    ],
)
def test_event_answers_match(client, body, key, status) -> None:
    resp = client.post("/v1/events", json=body, headers={"X-API-Key": key} if key else {})
    assert resp.status_code == status
    _check(resp, "/v1/events", "post")


def test_outcome_answers_match(client, run_result) -> None:
    treated = run_result.offers.assignments.query("offer_id == 'vip' and group == 'treatment'").user_id.iloc[0]
    for body, status in (({"outcomes": [{"user_id": treated, "sent": True}]}, 202), ({"outcomes": []}, 400)):
        resp = client.post("/v1/campaigns/vip/outcomes", json=body, headers={"X-API-Key": API_KEY})
        assert resp.status_code == status
        _check(resp, "/v1/campaigns/{offer_id}/outcomes", "post")


def test_docs_page_is_served_locally(client) -> None:
    page = client.get("/docs/").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in page and "/openapi.json" in page and "https://" not in page
    assert client.get("/openapi.json").get_json()["openapi"] == "3.1.0"
