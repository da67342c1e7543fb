"""OPTIONS on every path of the app lists its methods (204 with Allow), and a method a
path does not answer is 405 with the same Allow: every method of every route on that
path, not only those of the route routing happened to try first."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from api.main import app
from core.settings import settings
from tests.support.asgi import request_in_process

SAMPLE_PATH_VALUES = {"experiment_id": "some-id", "sweep_id": "some-id", "image_format": "png"}


def methods_by_path() -> dict[str, set[str]]:
    """Each path of the app (its parameters filled in) and the methods its routes have."""
    found: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            continue  # the docs pages' static files (fastapi-offline), not API paths
        path = re.sub(
            r"{(\w+)}", lambda match: SAMPLE_PATH_VALUES[match.group(1)], route.path or ""
        )
        found.setdefault(path, set()).update(route.methods or ())
    return found


def allow(response_header: str) -> set[str]:
    return {method.strip() for method in response_header.split(",")}


@pytest.fixture(autouse=True)
def keys_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auth", "required")


def test_options_on_every_path_is_204_listing_its_methods() -> None:
    paths = methods_by_path()
    assert paths["/v1/experiments"] == {"GET", "POST"}
    for path, methods in paths.items():
        response = request_in_process("OPTIONS", path)
        assert response.status_code == 204, (path, response.status_code, response.text)
        assert allow(response.headers["allow"]) == methods | {"OPTIONS"}, path
        assert response.content == b""


def test_a_method_the_path_lacks_is_405_with_every_method_of_the_path() -> None:
    for path, methods in methods_by_path().items():
        for method in {"PUT", "PATCH", "DELETE", "POST"} - methods:
            response = request_in_process(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            assert allow(response.headers["allow"]) == methods | {"OPTIONS"}, (method, path)
            assert f"{method} is not a method of {path}" in response.json()["detail"]


def test_options_on_an_unknown_path_is_404() -> None:
    response = request_in_process("OPTIONS", "/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
