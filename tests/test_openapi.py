"""The OpenAPI document: valid OpenAPI 3.1, in step with the app's routes, and
real responses (successes and errors) validate against it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from starlette.routing import Route

from frontdesk.bootstrap import build_engine
from frontdesk.http_app import create_app
from frontdesk.http_schema import ERROR_CODES, openapi_document
from frontdesk.settings import Settings

pytestmark = pytest.mark.anyio

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
DOC = openapi_document()
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(Settings(max_body_bytes=5000), engine=build_engine([MINI]))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd") as c:
        yield c


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    validate_spec(DOC)


def test_every_route_is_documented_and_every_documented_path_exists(app: Any) -> None:
    routes = {
        (re.sub(r":\w+}", "}", route.path), method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in DOC["paths"].items() for method in item if method in HTTP_METHODS}
    assert routes == documented


def test_every_error_code_is_documented_on_an_operation() -> None:
    described = {
        code
        for item in DOC["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for code in re.findall(r"[a-z_]+", response["description"].removeprefix("error codes:"))
    }
    # answered by the router for a method no documented operation has
    assert [code for code in ERROR_CODES if code not in described] == ["method_not_allowed"]


async def test_the_served_document_is_the_generated_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == DOC


def check(response: httpx.Response, path: str, method: str) -> None:
    """Validate a real response against the documented status, body schema and headers."""
    responses = DOC["paths"][path][method]["responses"]
    documented = responses.get(str(response.status_code))
    assert documented, f"{method.upper()} {path} answered {response.status_code}, which is not documented"
    schema = documented["content"]["application/json"]["schema"]
    registry = Registry().with_resource("urn:openapi", Resource.opaque(DOC))
    rebased = {"$ref": "urn:openapi#" + schema["$ref"][1:]} if "$ref" in schema else schema
    errors = list(Draft202012Validator(rebased, registry=registry).iter_errors(response.json()))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    for header in documented.get("headers", {}):
        assert header.lower() in response.headers


MESSAGE = {"conversation_id": "oa-1", "user_id": "carol", "text": "where is my order"}


async def test_message_responses_validate(client: httpx.AsyncClient) -> None:
    post = "/v1/messages"
    check(await client.post(post, json=MESSAGE), post, "post")
    check(await client.post(post + "?explain=1", json={**MESSAGE, "text": "12345678"}), post, "post")
    vip = {**MESSAGE, "conversation_id": "oa-2", "text": "this is terrible service", "customer": {"level": "VIP"}}
    vip_result = await client.post(post + "?explain=1", json=vip)
    assert vip_result.json()["handoff"] and vip_result.json()["actions"]
    check(vip_result, post, "post")
    check(await client.post(post, json={**MESSAGE, "text": "my order 1234567890"}), post, "post")
    json_headers = {"content-type": "application/json"}
    for bad in (
        client.post(post, content=b"{", headers=json_headers),
        client.post(post, json={**MESSAGE, "ruleset": "nope"}),
        client.post(post, json={**MESSAGE, "text": "x" * 6000}),
        client.post(post, json={**MESSAGE, "text": "x" * 4001}),
        client.post(post, content=b"hi"),
        client.post(post, json={"text": "hi"}),
    ):
        response = await bad
        assert response.status_code >= 400
        check(response, post, "post")


async def test_conversation_erasure_and_health_responses_validate(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json={**MESSAGE, "conversation_id": "oa-3"})
    conv = "/v1/conversations/{conversation_id}"
    check(await client.get("/v1/conversations/oa-3"), conv, "get")
    check(await client.get("/v1/conversations/none"), conv, "get")
    check(await client.post("/v1/conversations/oa-3/close"), conv + "/close", "post")
    check(await client.post("/v1/conversations/none/close"), conv + "/close", "post")
    check(await client.delete("/v1/customers/carol"), "/v1/customers/{user_id}", "delete")
    check(await client.delete("/v1/customers/anonymous"), "/v1/customers/{user_id}", "delete")
    check(await client.get("/healthz"), "/healthz", "get")
    check(await client.get("/readyz"), "/readyz", "get")
    check(await client.get("/openapi.json"), "/openapi.json", "get")


def test_a_response_that_breaks_the_schema_is_caught() -> None:
    """The checker itself: a body missing a required field fails validation."""
    broken = httpx.Response(200, json={"status": "ok", "extra": 1}, headers={"x-trace-id": "t"})
    check(broken, "/healthz", "get")
    with pytest.raises(AssertionError):
        check(httpx.Response(200, json={"ready": True}, headers={"x-trace-id": "t"}), "/readyz", "get")
