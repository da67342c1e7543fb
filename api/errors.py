"""Error responses: every error is JSON with a ``detail`` sentence; validation errors (422)
also list each bad field with a message a person can act on."""

from __future__ import annotations

import re
import typing
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.methods import method_not_allowed
from api.schemas import FieldErrorPublic, ValidationErrorPublic
from api.store_outage import store_unavailable_response
from core.cost_limits import CostLimitError
from core.spec import ExperimentSpec
from core.spec.fields import SpecPart, variant_name
from core.store.session import StatementTimeoutError
from core.sweeps.space import SweepDefinitionError
from core.text import did_you_mean

CATALOG_HINT = "see GET /v1/catalog for the accepted fields and values"
EDIT_HINT = "an experiment's name, tags and note can change (PATCH), nothing else"


def _union_fields() -> frozenset[str]:
    """Spec fields that are discriminated unions: pydantic puts the variant's tag into an
    error's location (optimizer.adam.lr), which the client never wrote."""
    return frozenset(
        name for name, field in ExperimentSpec.model_fields.items() if field.discriminator
    )


UNION_FIELDS = _union_fields()


PARAMETER_KINDS = ("values", "distribution")
"""The tags of a sweep parameter's union (``core.sweeps.spec.Parameter``)."""


def _without_union_tags(parts: list[str]) -> list[str]:
    """A location without the tags pydantic inserts after a discriminated union's field
    (``optimizer.adam.lr``), which the client never wrote: those of an experiment spec, of
    the base spec of a sweep, of a sweep parameter (values or distribution) and of its
    early-stopping rule."""
    head = parts[0] if parts else None
    in_base = head == "base" and len(parts) > 1 and parts[1] in UNION_FIELDS
    in_parameter = head == "parameters" and len(parts) > 2 and parts[2] in PARAMETER_KINDS
    if head in UNION_FIELDS or head == "early_stopping":
        tag_at = 1
    elif in_base or in_parameter:
        tag_at = 2
    else:
        return list(parts)
    return parts[:tag_at] + parts[tag_at + 1 :] if len(parts) > tag_at else list(parts)


def field_error(
    error: dict[str, Any], *, unknown_field_hint: str = CATALOG_HINT
) -> FieldErrorPublic:
    """One pydantic error as the client should read it; ``unknown_field_hint`` ends the
    message of a field the body may not have."""
    location, *path = error["loc"] or ("body",)
    parts = _without_union_tags([str(part) for part in path])
    message = error["msg"]
    kind = error["type"]
    if kind == "union_tag_invalid":
        parts.append("name")
        names = _variant_names(parts[0]) if parts else []
        message = _with_hint(message, error.get("ctx", {}).get("tag"), names)
    elif kind in ("literal_error", "enum"):
        expected = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        message = _with_hint(message, error.get("input"), expected)
    elif kind == "union_tag_not_found":
        parts.append("name")
        tags = ", ".join(_variant_names(parts[0])) if parts[0] in UNION_FIELDS else ""
        message = f"Field required: the {parts[0]}'s name, one of {tags}"
    elif kind == "extra_forbidden":
        # A misspelt field of the spec gets the closest name of its level; another body
        # (an edit) says which fields it has instead.
        spec_body = location == "body" and unknown_field_hint == CATALOG_HINT
        hint = did_you_mean(parts[-1], _fields_beside(path)) if spec_body else None
        message = f"Unknown field {parts[-1]!r}; " + (
            f"{hint} {unknown_field_hint[0].upper()}{unknown_field_hint[1:]}"
            if hint
            else unknown_field_hint
        )
    elif kind == "json_invalid":
        parts = []
        message = f"Invalid JSON at character {path[0] if path else '?'}: " + str(
            error.get("ctx", {}).get("error", "")
        )
    elif kind.startswith("value_error") and message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if kind not in ("json_invalid", "union_tag_not_found") and "input" in error and parts:
        message = f"{message} (got {_short(error['input'])})"
    return FieldErrorPublic(
        location=location if location in ("body", "query", "path", "header", "cookie") else "body",
        field=".".join(parts) if parts else location,
        message=message,
        type=kind,
    )


def invalid_parameter(
    name: str, message: str, *, value: Any = None, location: str = "query"
) -> RequestValidationError:
    """A 422 naming one parameter, in the same body as a parameter FastAPI refused (a
    route's own check, e.g. a cursor it did not produce). ``value`` None: not echoed."""
    error: dict[str, Any] = {"loc": (location, name), "msg": message, "type": "value_error"}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])


def _variant_names(union_field: str) -> list[str]:
    """The names a spec part answers to (optimizer: adam, adamax, ...); none for a field
    that is not a discriminated union of the spec."""
    field = ExperimentSpec.model_fields.get(union_field)
    return [variant_name(variant) for variant in _variants(field)] if field else []


def _variants(field: FieldInfo) -> list[type[SpecPart]]:
    """The variants of a discriminated union field, else none."""
    if not field.discriminator:
        return []
    return [
        variant
        for variant in typing.get_args(field.annotation)
        if isinstance(variant, type) and issubclass(variant, SpecPart)
    ]


def _fields_beside(path: list[Any]) -> list[str]:
    """The fields of the spec part holding the last field of ``path``, as pydantic
    located it (a union's variant tag included: optimizer, adam, beta): the names a
    misspelt field may have meant. None where the path leads to no spec part."""
    model: type[BaseModel] = ExperimentSpec
    steps = iter(path[:-1])
    for step in steps:
        field = model.model_fields.get(str(step))
        if field is None:
            return []
        variants = _variants(field)
        if variants:
            tag = str(next(steps, ""))
            chosen = [variant for variant in variants if variant_name(variant) == tag]
            if not chosen:
                return []
            model = chosen[0]
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            model = field.annotation
        else:
            return []
    return list(model.model_fields)


_QUOTED = re.compile(r"'([^']*)'")
"""A value as pydantic quotes the expected ones of a literal error ('auto', 'cpu' or 'cuda')."""


def _with_hint(message: str, given: object, choices: list[str]) -> str:
    """``message`` with "; did you mean 'x'?" when ``given`` is text close to a choice."""
    hint = did_you_mean(given, choices) if isinstance(given, str) else None
    return f"{message}; {hint}" if hint else message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # A PATCH body is an edit (ExperimentUpdate), not a spec: say what it can change.
    hint = EDIT_HINT if request.method == "PATCH" else CATALOG_HINT
    return _unprocessable(
        [field_error(dict(error), unknown_field_hint=hint) for error in exc.errors()]
    )


async def _sweep_definition_error(request: Request, exc: Exception) -> JSONResponse:
    """A sweep that cannot run as defined (core/sweeps/space.py): a 422 naming each field."""
    assert isinstance(exc, SweepDefinitionError)
    return _unprocessable(
        [
            FieldErrorPublic(
                location="body",
                field=problem.field,
                message=problem.message,
                type="sweep_definition",
            )
            for problem in exc.problems
        ]
    )


async def _cost_limit_error(request: Request, exc: Exception) -> JSONResponse:
    """A spec beyond a cost limit (core/cost_limits.py): the same 422 body as a bad field, the
    field the one to change, the message with the estimate and the limit."""
    assert isinstance(exc, CostLimitError)
    errors = [
        FieldErrorPublic(
            location="body",
            field=problem.field,
            message=problem.message,
            type=f"{problem.limit}_limit",
        )
        for problem in exc.problems
    ]
    return _unprocessable(errors)


def _unprocessable(errors: list[FieldErrorPublic]) -> JSONResponse:
    fields = ", ".join(dict.fromkeys(error.field for error in errors))
    body = ValidationErrorPublic(
        detail=f"{len(errors)} invalid field{'s' if len(errors) != 1 else ''}: {fields}",
        errors=errors,
    )
    return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        return method_not_allowed(request)  # also the answer to OPTIONS
    if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
        # Every 422 has the documented body, also one raised without field errors.
        body = ValidationErrorPublic(detail=str(exc.detail), errors=[])
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _statement_timeout(request: Request, exc: Exception) -> JSONResponse:
    # The database stopped a statement at ADAMLAB_STATEMENT_TIMEOUT_S: the request asked
    # for more work than one answer may take, or the store is overloaded.
    assert isinstance(exc, StatementTimeoutError)
    return store_unavailable_response(
        f"The store did not answer within {exc.timeout_s:g} s "
        "(ADAMLAB_STATEMENT_TIMEOUT_S), so this request was stopped. Ask for less "
        "(fewer filters, a narrower step range, max_points) or try again later."
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback; the client gets JSON like every other answer.
    return JSONResponse(
        {"detail": "Internal error; the server's log has the details."},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CostLimitError, _cost_limit_error)
    app.add_exception_handler(SweepDefinitionError, _sweep_definition_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StatementTimeoutError, _statement_timeout)
    app.add_exception_handler(Exception, _internal_error)
