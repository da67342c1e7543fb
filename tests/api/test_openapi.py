"""The OpenAPI document names every status each operation can answer, with the body the
app sends: the 422 body is ValidationErrorPublic (detail and errors), never FastAPI's
HTTPValidationError; and the bodies the app sends in this process match it. The live
service is fuzzed against the same document in tests/api/test_contract.py."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI, HTTPException

from api.deps import get_session
from api.errors import install_error_handlers
from api.main import app
from core.settings import settings
from tests.support.asgi import request_in_process

KEYED_ERRORS = {"401", "403", "413"}


def document() -> dict[str, Any]:
    return app.openapi()


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document()["paths"].items()
        for method, operation in methods.items()
    ]


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The documented JSON schema of an answer, its references resolvable."""
    response = document()["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": document()["components"]}


def assert_documented(path: str, method: str, status: int, body: Any) -> None:
    jsonschema_rs.validate(response_schema(path, method, status), body)


def test_no_operation_documents_fastapis_validation_error() -> None:
    text = json.dumps(document())
    assert "HTTPValidationError" not in text
    assert '"#/components/schemas/ValidationError"' not in text
    for method, path, operation in operations():
        if "422" in operation["responses"]:
            schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ValidationErrorPublic"}, (method, path)


def test_every_reference_resolves() -> None:
    schemas = document()["components"]["schemas"]
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document())
    assert refs
    assert {ref.rsplit("/", 1)[-1] for ref in refs} <= set(schemas)


def test_each_operation_documents_the_errors_it_can_answer() -> None:
    by_operation = {(method, path): set(op["responses"]) for method, path, op in operations()}
    for (method, path), statuses in by_operation.items():
        assert "413" in statuses, (method, path)
        if path.startswith("/v1"):
            assert statuses >= KEYED_ERRORS, (method, path)
        if "{experiment_id}" in path:
            assert "404" in statuses, (method, path)
    assert {"400", "409", "415", "422", "429", "503"} <= by_operation[("POST", "/v1/experiments")]
    assert "422" in by_operation[("GET", "/v1/experiments")]
    assert "401" not in by_operation[("GET", "/healthz")]
    assert "422" not in by_operation[("GET", "/healthz")]
    unauthorized = document()["paths"]["/v1/catalog"]["get"]["responses"]["401"]
    assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True


def test_the_bodies_sent_match_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auth", "required")
    no_key = request_in_process("POST", "/v1/experiments", content=b"{")
    assert no_key.status_code == 401
    assert_documented("/v1/experiments", "POST", 401, no_key.json())
    too_large = request_in_process("GET", "/healthz", content=b"x" * (settings.max_body_bytes + 1))
    assert too_large.status_code == 413
    assert_documented("/healthz", "GET", 413, too_large.json())
    monkeypatch.setattr(settings, "auth", "disabled")
    monkeypatch.setitem(app.dependency_overrides, get_session, lambda: None)  # no store used
    invalid = request_in_process("GET", "/v1/compare", params={"ids": ","})
    assert invalid.status_code == 422, invalid.text
    assert_documented("/v1/compare", "GET", 422, invalid.json())
    assert invalid.json()["errors"][0]["field"] == "ids"
    off_loopback = request_in_process("GET", "/v1/catalog", base_url="http://10.0.0.7:8000")
    assert off_loopback.status_code == 403
    assert_documented("/v1/catalog", "GET", 403, off_loopback.json())


def test_a_422_raised_without_field_errors_still_has_the_documented_body() -> None:
    small = FastAPI()
    install_error_handlers(small)

    @small.get("/check")
    def check() -> None:
        raise HTTPException(422, "the range is empty")

    response = request_in_process("GET", "/check", app=small)
    assert response.status_code == 422
    assert response.json() == {"detail": "the range is empty", "errors": []}
    jsonschema_rs.validate(response_schema("/v1/experiments", "GET", 422), response.json())
