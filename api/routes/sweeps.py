"""Sweeps: create, list, read, extend, cancel, delete; each request sees only its tenant's.
A sweep's members are experiments (``GET /v1/experiments?sweep={id}``); its report is
``api/routes/sweep_report.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from api.auth import KeyedRoute
from api.deps import (
    CurrentTenant,
    DispatchDep,
    IdempotencyKey,
    JsonBody,
    OwnedSweep,
    SessionDep,
    get_owned_sweep,
    sweep_not_found,
)
from api.errors import invalid_parameter
from api.openapi import RETRY_AFTER_HEADER
from api.params import Cursor
from api.schemas import ErrorPublic
from api.sweep_schemas import SweepCreate, SweepExtend, SweepPublic, SweepsPublic
from core.celery_app import BrokerNotConfiguredError, BrokerUnavailableError, queue_for_device
from core.cost_limits import CostLimits
from core.run_folder import remove_run_folder
from core.settings import settings
from core.store import sweeps as store
from core.store.experiments import IdempotencyConflictError
from core.store.lifecycle import mark_dispatch_failed
from core.store.manage import delete_experiment
from core.store.models import SweepRow, utc_now
from core.store.outage import RETRY_AFTER_S
from core.store.paging import InvalidCursorError
from core.sweeps import scheduler
from core.sweeps.summary import summarize

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], route_class=KeyedRoute)


def sweep_public(session: Session, sweep: SweepRow, *, added: int | None = None) -> SweepPublic:
    """The sweep as the API answers it: its definition, counts, progress and best so far."""
    spec = scheduler.definition_of(sweep)
    rows = store.members(session=session, sweep_id=sweep.id)
    summary = summarize(spec, rows, now=utc_now())
    return SweepPublic.from_row(sweep, spec, summary, added=added)


class _QueueingFailed(Exception):
    pass


def _dispatcher(session: Session, dispatch: DispatchDep) -> scheduler.Dispatch:
    """Queue a member; a member that cannot be queued is marked failed, saying why."""

    def queue_member(experiment_id: str, queue: str) -> None:
        try:
            dispatch(experiment_id, queue)
        except (BrokerNotConfiguredError, BrokerUnavailableError) as exc:
            mark_dispatch_failed(session=session, experiment_id=experiment_id, reason=str(exc))
            raise _QueueingFailed(str(exc)) from exc

    return queue_member


def _broker_down(sweep_id: str, exc: _QueueingFailed) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"The sweep's members could not be queued ({exc}); sweep {sweep_id} holds them as "
        "failed. Cancel or delete it and try again later, with a new Idempotency-Key.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


BROKER_DOWN = {
    "model": ErrorPublic,
    "description": "The queue's broker or the store is unreachable; try again after Retry-After.",
    "headers": RETRY_AFTER_HEADER,
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepPublic,
    dependencies=[JsonBody],
    responses={
        409: {"model": ErrorPublic, "description": "Idempotency-Key reused with another body."},
        503: BROKER_DOWN,
    },
)
def create_sweep(
    body: SweepCreate,
    session: SessionDep,
    tenant: CurrentTenant,
    dispatch: DispatchDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SweepPublic:
    """Create a sweep and queue its first members: a grid's every configuration × seed, a
    random or sobol search's ``max_members``, a tpe search's first ``parallelism``. Each
    member is an experiment. A definition that cannot run (a path the spec lacks, a value
    a member's spec refuses, a member beyond a cost limit, a grid with a distribution) is
    422 naming the field; a replayed Idempotency-Key answers the same sweep."""
    try:
        sweep, created = scheduler.create(
            session=session,
            tenant_id=tenant.id,
            spec=body,
            queue_for=queue_for_device,
            dispatch=_dispatcher(session, dispatch),
            limits=CostLimits.from_settings(),
            idempotency_key=idempotency_key,
        )
    except IdempotencyConflictError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key {exc.key!r} was already used for sweep {exc.experiment_id} with "
            "a different body; use a new key for a new sweep",
        ) from exc
    except _QueueingFailed as exc:
        raise _broker_down("(new)", exc) from exc
    response.headers["Location"] = f"/v1/sweeps/{sweep.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return sweep_public(session, sweep)


@router.get("", response_model=SweepsPublic)
def list_sweeps(
    session: SessionDep,
    tenant: CurrentTenant,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SweepsPublic:
    """A page of the tenant's sweeps, newest first."""
    try:
        page = store.list_sweeps(session=session, tenant_id=tenant.id, cursor=cursor, limit=limit)
    except InvalidCursorError as exc:
        raise invalid_parameter("cursor", str(exc), value=cursor) from exc
    return SweepsPublic(
        data=[sweep_public(session, sweep) for sweep in page.data], next_cursor=page.next_cursor
    )


@router.get("/{sweep_id}", response_model=SweepPublic)
def get_sweep(sweep: OwnedSweep, session: SessionDep) -> SweepPublic:
    """The sweep: its status, members per status, progress and ETA, best configuration so
    far (the best median of its seeds' final metric), and its definition."""
    return sweep_public(session, sweep)


@router.post(
    "/{sweep_id}/extend",
    response_model=SweepPublic,
    # The sweep first: another tenant's id is the 404 of an unknown one, whatever the
    # body's Content-Type (then 415).
    dependencies=[Depends(get_owned_sweep), JsonBody],
    responses={
        409: {"model": ErrorPublic, "description": "The sweep was cancelled."},
        503: BROKER_DOWN,
    },
)
def extend_sweep(
    body: SweepExtend, sweep: OwnedSweep, session: SessionDep, dispatch: DispatchDep
) -> SweepPublic:
    """Extend a running or finished sweep, keeping every member it has: ``seeds`` (the new
    set, holding the old), ``parameters`` (entries replacing those of the same path: more
    values, a wider range) and a larger ``max_members``. The new members are queued;
    ``added`` says how many."""
    try:
        added = scheduler.extend(
            session=session,
            sweep=sweep,
            extension=body,
            queue_for=queue_for_device,
            dispatch=_dispatcher(session, dispatch),
            limits=CostLimits.from_settings(),
        )
    except scheduler.SweepCancelledError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except _QueueingFailed as exc:
        raise _broker_down(sweep.id, exc) from exc
    session.refresh(sweep)
    return sweep_public(session, sweep, added=added)


@router.post("/{sweep_id}/cancel", response_model=SweepPublic)
def cancel_sweep(sweep: OwnedSweep, session: SessionDep) -> SweepPublic:
    """Cancel the sweep and every member: queued members never start, running ones stop at
    their next heartbeat (their status then says cancelled). Finished members stay. A
    repeat answers the same."""
    scheduler.cancel(session=session, sweep=sweep)
    session.refresh(sweep)
    return sweep_public(session, sweep)


@router.delete(
    "/{sweep_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={204: {"description": "Deleted, with every member and its files."}},
)
def delete_sweep(sweep: OwnedSweep, session: SessionDep, tenant: CurrentTenant) -> Response:
    """Delete the sweep and every member (as DELETE of each experiment does: rows, files;
    a running member stops within about a second). Answers 204; then every request about
    it is a 404."""
    sweep_id = sweep.id
    scheduler.cancel(session=session, sweep=sweep)  # no member starts while they go
    for member, _experiment in store.members(session=session, sweep_id=sweep_id):
        if delete_experiment(
            session=session, experiment_id=member.experiment_id, tenant_id=tenant.id
        ):
            remove_run_folder(settings.checkpoint_dir(member.experiment_id))
    if not store.delete_sweep(session=session, sweep_id=sweep_id):
        raise sweep_not_found(sweep_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
