"""The API's answer to a store outage: 503 with ``Retry-After`` and a sentence, the same
``{"detail": ...}`` body as every other error, instead of a 500 and a closed connection.

Which errors are an outage is decided in one place, ``core.store.outage``; any other
database error stays a 500 (with its traceback in the log). Nothing has to be restarted
when the store is back: the engine tests each pooled connection before lending it
(``pool_pre_ping``), so the first request after the outage gets a fresh connection.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from core.store.outage import RETRY_AFTER_S, STORE_UNAVAILABLE_DETAIL, is_store_unavailable

logger = logging.getLogger(__name__)


def store_unavailable_response(detail: str = STORE_UNAVAILABLE_DETAIL) -> JSONResponse:
    """503 with ``Retry-After`` and ``detail``: the store cannot answer now."""
    return JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_store_unavailable(exc):
        raise exc  # a real error: the 500 handler answers and the traceback is logged
    logger.warning(
        "%s %s: store unavailable: %s",
        request.method,
        request.url.path,
        str(exc).splitlines()[0],
    )
    return store_unavailable_response()


def install_store_outage_handler(app: FastAPI) -> None:
    app.add_exception_handler(SQLAlchemyError, _store_error)
