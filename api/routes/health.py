"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.schemas import HealthPublic
from core.celery_app import BrokerNotConfiguredError, BrokerUnavailableError, ping_broker
from core.store.session import default_engine, ping

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    """The process is up and serving requests."""
    return HealthPublic(status="ok")


@router.get("/readyz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def readyz() -> HealthPublic | JSONResponse:
    """The store and the broker answer: 200, else 503 naming what failed."""
    checks = {}
    try:
        ping(default_engine())
        checks["store"] = "ok"
    except SQLAlchemyError as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    try:
        ping_broker(timeout_s=PROBE_TIMEOUT_S)
        checks["broker"] = "ok"
    except (BrokerNotConfiguredError, BrokerUnavailableError) as exc:
        checks["broker"] = f"unreachable: {exc}".splitlines()[0]
    if all(value == "ok" for value in checks.values()):
        return HealthPublic(status="ready", checks=checks)
    body = HealthPublic(status="unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=503)
