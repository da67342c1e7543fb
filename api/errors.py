"""Error responses: every error is JSON with a ``detail`` sentence; validation errors (422)
also list each bad field with a message a person can act on."""

from __future__ import annotations

import typing
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.methods import method_not_allowed
from api.schemas import FieldErrorPublic, ValidationErrorPublic
from core.cost_limits import CostLimitError
from core.spec import ExperimentSpec
from core.store.outage import RETRY_AFTER_S
from core.store.session import StatementTimeoutError

CATALOG_HINT = "see GET /v1/catalog for the accepted fields and values"


def _union_fields() -> frozenset[str]:
    """Spec fields that are discriminated unions: pydantic puts the variant's tag into an
    error's location (optimizer.adam.lr), which the client never wrote."""
    return frozenset(
        name for name, field in ExperimentSpec.model_fields.items() if field.discriminator
    )


UNION_FIELDS = _union_fields()


def field_error(error: dict[str, Any]) -> FieldErrorPublic:
    """One pydantic error as the client should read it."""
    location, *path = error["loc"] or ("body",)
    parts = [str(part) for part in path]
    if parts and parts[0] in UNION_FIELDS and len(parts) > 1:
        del parts[1]  # the tag pydantic inserted
    message = error["msg"]
    kind = error["type"]
    if kind == "union_tag_invalid":
        parts.append("name")
    elif kind == "union_tag_not_found":
        parts.append("name")
        tags = ", ".join(_variant_names(parts[0])) if parts[0] in UNION_FIELDS else ""
        message = f"Field required: the {parts[0]}'s name, one of {tags}"
    elif kind == "extra_forbidden":
        message = f"Unknown field {parts[-1]!r}; {CATALOG_HINT}"
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
    annotation = ExperimentSpec.model_fields[union_field].annotation
    names = []
    for variant in typing.get_args(annotation):
        tag = getattr(variant, "model_fields", {}).get("name")
        if tag is not None:
            names.extend(typing.get_args(tag.annotation))
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _unprocessable([field_error(dict(error)) for error in exc.errors()])


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
    return JSONResponse(
        {
            "detail": f"The store did not answer within {exc.timeout_s:g} s "
            "(ADAMLAB_STATEMENT_TIMEOUT_S), so this request was stopped. Ask for less "
            "(fewer filters, a narrower step range, max_points) or try again later."
        },
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_S)},
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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StatementTimeoutError, _statement_timeout)
    app.add_exception_handler(Exception, _internal_error)
