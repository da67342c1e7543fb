"""The OpenAPI document (``/openapi.json``, ``/docs``) with every status each operation
can answer and the body the app really sends with it.

The error answers are not declared route by route: ``document_errors`` derives them
from what each route is (keyed, with a body, with parameters, with an experiment in its
path) and from where the app answers them:

- 400: a body that cannot be read as JSON text (not UTF-8), on a route with a body
  (FastAPI's own answer, after the key check).
- 401, 403: a ``KeyedRoute`` (``api.auth``): no or a bad key; keys disabled and the
  request not on loopback.
- 404: a route that takes its experiment through ``OwnedExperiment`` (``api.deps``).
- 413: any request, from its Content-Length or as its body arrives (``api.middleware``).
- 415: a route that depends on ``require_json_body`` (``api.deps``).
- 422: a route with parameters or a body, as ``ValidationErrorPublic`` (``api.errors``),
  in place of FastAPI's ``HTTPValidationError``, which the app never sends.

A route's own ``responses`` (409, 429, 503, another 404 sentence) are kept; 405 and the
answer to OPTIONS (``api.methods``) concern methods an operation does not have, so they
are in docs/api.md, not on an operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from api.auth import KeyedRoute
from api.deps import get_owned_experiment, get_owned_sweep, get_session, require_json_body
from api.schemas import ErrorPublic, ValidationErrorPublic

REF = "#/components/schemas/{model}"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _json(model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}} | extra


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(ErrorPublic, description, **extra)


UNREADABLE_BODY = _error("The body is not text in a JSON encoding (UTF-8), so it is not JSON.")
NO_KEY = _error(
    "No API key, or a malformed, unknown or revoked one (ADAMLAB_AUTH=required); checked "
    "before the body is read.",
    headers={
        "WWW-Authenticate": {
            "description": 'Bearer realm="adamlab", with error="invalid_token" for an unknown '
            'or revoked key and error="invalid_request" for a malformed header.',
            "required": True,
            "schema": {"type": "string"},
        }
    },
)
NOT_ON_LOOPBACK = _error(
    "Keys are disabled (ADAMLAB_AUTH=disabled) and the request did not arrive on a loopback "
    "address."
)
NO_SUCH_EXPERIMENT = _error("No experiment with this id (another tenant's is the same 404).")
NO_SUCH_SWEEP = _error("No sweep with this id (another tenant's is the same 404).")
BODY_TOO_LARGE = _error("The request body is larger than ADAMLAB_MAX_BODY_BYTES.")
NOT_JSON = _error("The body was not sent with Content-Type: application/json.")
RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string"},
    }
}
STORE_UNAVAILABLE = _error(
    "The store cannot be reached (api/store_outage.py), or one of its statements ran longer "
    "than ADAMLAB_STATEMENT_TIMEOUT_S and was stopped; try again after Retry-After.",
    headers=RETRY_AFTER_HEADER,
)
INVALID = _json(
    ValidationErrorPublic,
    "A parameter or the body is invalid: a sentence, and each bad field as the client "
    "wrote it (errors is empty when no single field is to blame).",
)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _has_parameters(dependant: Dependant) -> bool:
    return any(
        part.path_params
        or part.query_params
        or part.header_params
        or part.cookie_params
        or part.body_params
        for part in (dependant, *_dependencies(dependant))
    )


def route_errors(route: Any) -> dict[str, dict[str, Any]]:
    """The error answers of one route (a ``RouteContext`` of an ``APIRoute``), by status."""
    dependant: Dependant = route.dependant
    calls: set[Callable[..., Any] | None] = {part.call for part in _dependencies(dependant)}
    errors: dict[str, dict[str, Any]] = {}
    if route.body_field is not None:
        errors["400"] = UNREADABLE_BODY
    if isinstance(route.original_route, KeyedRoute):
        errors["401"] = NO_KEY
        errors["403"] = NOT_ON_LOOPBACK
    if get_owned_experiment in calls:
        errors["404"] = NO_SUCH_EXPERIMENT
    if get_owned_sweep in calls:
        errors["404"] = NO_SUCH_SWEEP
    errors["413"] = BODY_TOO_LARGE
    if require_json_body in calls:
        errors["415"] = NOT_JSON
    if get_session in calls or isinstance(route.original_route, KeyedRoute):
        errors["503"] = STORE_UNAVAILABLE
    if _has_parameters(dependant):
        errors["422"] = INVALID
    return errors


def document_errors(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """``document`` (FastAPI's) with each operation's error answers added, its 422
    replaced, and the error bodies' schemas in its components."""
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        operations = document["paths"].get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code, response in route_errors(route).items():
                if code == "422" or code not in responses:
                    responses[code] = response
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorPublic, ValidationErrorPublic):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve ``document_errors`` of FastAPI's document as the app's OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate(), app)
        return app.openapi_schema

    app.openapi = openapi
