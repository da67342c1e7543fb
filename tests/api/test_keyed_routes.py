"""A keyed route checks the key before anything of the request is read: no key, or a
refused connection, is 401 (or 403) whatever body and parameters come with it. In this
process, on the app itself: a refusal never reaches the store."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import KeyedRoute, SignInRoute
from api.main import app
from core.settings import settings
from tests.support.asgi import request_in_process

BROKEN_BODIES = [
    pytest.param(b'{"dataset": ', "application/json", id="invalid-json"),
    pytest.param(b"\xff\xfe\x00{", "application/json", id="not-utf8"),
    pytest.param(b"dataset=digits", "application/x-www-form-urlencoded", id="form"),
    pytest.param(b"[]", "application/json", id="wrong-type"),
]


def routes_with_a_body() -> list[tuple[str, str]]:
    """Every route with a body but sign-in, whose key is its body (api/routes/session.py)."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, SignInRoute):
            continue
        if isinstance(route.original_route, APIRoute) and route.body_field is not None:
            found += [(method, route.path_format) for method in sorted(route.methods or ())]
    return found


def test_every_v1_route_is_keyed() -> None:
    v1 = [
        route for route in iter_route_contexts(app.routes) if (route.path or "").startswith("/v1")
    ]
    assert len(v1) >= 8
    assert all(isinstance(route.original_route, KeyedRoute) for route in v1), [
        route.path for route in v1 if not isinstance(route.original_route, KeyedRoute)
    ]


@pytest.mark.parametrize(("body", "content_type"), BROKEN_BODIES)
def test_no_key_with_a_broken_body_is_401(
    monkeypatch: pytest.MonkeyPatch, body: bytes, content_type: str
) -> None:
    monkeypatch.setattr(settings, "auth", "required")
    routes = routes_with_a_body()
    assert ("POST", "/v1/experiments") in routes
    for method, path in routes:
        response = request_in_process(
            method, path, content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer <key>" in response.json()["detail"]


def test_a_malformed_key_with_invalid_parameters_is_401(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auth", "required")
    headers: dict[str, Any] = {"authorization": "Basic Zm9vOmJhcg=="}
    for path in ("/v1/experiments?limit=0&sort=colour", "/v1/compare.jpeg"):
        response = request_in_process("GET", path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert "must be 'Bearer <key>'" in response.json()["detail"]


def test_keys_disabled_off_loopback_is_403_before_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auth", "disabled")
    response = request_in_process(
        "POST",
        "/v1/experiments",
        base_url="http://10.0.0.7:8000",
        content=b'{"dataset": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 403, response.text
    assert "ADAMLAB_AUTH=disabled" in response.json()["detail"]
