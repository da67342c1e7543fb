"""Dependencies the routes declare, as ``Annotated`` aliases so a test can swap one with
``app.dependency_overrides``.

Tenant scoping lives here: ``CurrentTenant`` is who the request acts for (its API key's
tenant, see ``api.auth``), and ``OwnedExperiment`` is the experiment of the path's
``{experiment_id}`` if it is that tenant's, else 404, the same 404 as an unknown id. Every
route under ``/v1/experiments/{experiment_id}`` takes its experiment through
``OwnedExperiment`` (``tests/api/test_tenants.py`` checks each route of the app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from api.auth import bearer_scheme, checked_tenant, identify_tenant
from api.schemas import ErrorPublic
from api.sessions import get_session, session_opener
from core.celery_app import dispatch_experiment
from core.store.experiments import get_experiment, is_experiment_id
from core.store.models import ExperimentRow, SweepRow
from core.store.sweeps import get_sweep
from core.store.tenants import TenantIdentity
from core.text import PlainText

SessionDep = Annotated[Session, Depends(get_session)]


def get_current_tenant(
    request: Request,
    # Declared so that OpenAPI (and /docs' Authorize button) shows the bearer scheme; the
    # header itself is read by identify_tenant, which says what is wrong with it.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> TenantIdentity:
    """The tenant ``KeyedRoute`` found before the body was read; on any other route, the
    key is checked now."""
    tenant = checked_tenant(request)
    if tenant is not None:
        return tenant
    return identify_tenant(request, open_session=session_opener(request))


CurrentTenant = Annotated[TenantIdentity, Depends(get_current_tenant)]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "No experiment with one of these ids."}
}
"""The 404 of a route that looks experiments up itself (compare), for its OpenAPI
``responses``; a route taking ``OwnedExperiment`` has its 404 from ``api.openapi``."""


def experiment_not_found(experiment_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"No experiment with id {experiment_id!r}.")


def find_owned_experiment(
    session: Session, experiment_id: str, *, tenant_id: str
) -> ExperimentRow | None:
    """The tenant's experiment of a client's id, else None: another tenant's takes the
    same single query as a missing one, and text that cannot be an id (a NUL, not a UUID)
    is not looked up at all."""
    if not is_experiment_id(experiment_id):
        return None
    return get_experiment(session=session, experiment_id=experiment_id, tenant_id=tenant_id)


def get_owned_experiment(
    experiment_id: str, session: SessionDep, tenant: CurrentTenant
) -> ExperimentRow:
    """The path's experiment if it is the request's tenant's; another tenant's is 404."""
    experiment = find_owned_experiment(session, experiment_id, tenant_id=tenant.id)
    if experiment is None:
        raise experiment_not_found(experiment_id)
    return experiment


OwnedExperiment = Annotated[ExperimentRow, Depends(get_owned_experiment)]


def sweep_not_found(sweep_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"No sweep with id {sweep_id!r}.")


def get_owned_sweep(sweep_id: str, session: SessionDep, tenant: CurrentTenant) -> SweepRow:
    """The tenant's sweep of the path's ``{sweep_id}``, else 404 (another tenant's, an
    unknown id and text that cannot be an id alike)."""
    found = (
        get_sweep(session=session, sweep_id=sweep_id, tenant_id=tenant.id)
        if is_experiment_id(sweep_id)  # sweep ids are UUIDs as experiment ids are
        else None
    )
    if found is None:
        raise sweep_not_found(sweep_id)
    return found


OwnedSweep = Annotated[SweepRow, Depends(get_owned_sweep)]

Dispatch = Callable[[str, str], None]
"""Sends the job of an experiment id to a queue."""


async def get_dispatch() -> Dispatch:
    return lambda experiment_id, queue: dispatch_experiment(experiment_id, queue=queue)


DispatchDep = Annotated[Dispatch, Depends(get_dispatch)]


async def require_json_body(request: Request) -> None:
    """Refuse a body that does not say it is JSON (415), before reading it."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"the body must be JSON, sent with Content-Type: application/json "
            f"(got {content_type or 'no Content-Type'!r})",
        )


JsonBody = Depends(require_json_body)

IdempotencyKey = Annotated[
    PlainText | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes a retried submission safe: the same key and body return the "
        "same experiment; the same key with another body is 409.",
    ),
]
