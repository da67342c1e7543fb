"""Experiments: submit, list, read, cancel; each request sees only its tenant's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.auth import KeyedRoute
from api.deps import (
    CurrentTenant,
    DispatchDep,
    IdempotencyKey,
    JsonBody,
    OwnedExperiment,
    SessionDep,
    experiment_not_found,
)
from api.errors import invalid_parameter
from api.schemas import (
    ErrorPublic,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
    Status,
)
from core.celery_app import BrokerNotConfiguredError, BrokerUnavailableError, queue_for_device
from core.settings import settings
from core.store.checkpoints import list_checkpoints
from core.store.experiments import (
    ExperimentFilters,
    IdempotencyConflictError,
    TenantLimitError,
    create_experiment,
    get_experiment,
    list_experiments,
)
from core.store.lifecycle import CancelOutcome, mark_dispatch_failed, request_cancel
from core.store.paging import InvalidCursorError

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=KeyedRoute)

SortKey = Literal[
    "created_at",
    "-created_at",
    "name",
    "-name",
    "status",
    "-status",
    "dataset",
    "-dataset",
    "model",
    "-model",
    "optimizer",
    "-optimizer",
]


not_found = experiment_not_found


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentPublic,
    dependencies=[JsonBody],
    responses={
        409: {"model": ErrorPublic, "description": "Idempotency-Key reused with another body."},
        413: {"model": ErrorPublic, "description": "Body larger than ADAMLAB_MAX_BODY_BYTES."},
        415: {"model": ErrorPublic, "description": "Body not sent as JSON."},
        429: {
            "model": ErrorPublic,
            "description": "The tenant has ADAMLAB_MAX_ACTIVE_PER_TENANT experiments queued or "
            "running; Retry-After says when to try again.",
        },
        503: {"model": ErrorPublic, "description": "The queue's broker is unreachable."},
    },
)
def submit_experiment(
    body: ExperimentCreate,
    session: SessionDep,
    tenant: CurrentTenant,
    dispatch: DispatchDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ExperimentPublic:
    """Queue an experiment. Answers 201 with its id, status ``queued`` and a Location
    header; a replay of an earlier Idempotency-Key answers the same experiment (with the
    header ``Idempotent-Replayed: true``). Beyond the tenant's cap of queued and running
    experiments, 429 with Retry-After (the soonest ETA of its running ones)."""
    try:
        experiment, created = create_experiment(
            session=session,
            tenant_id=tenant.id,
            spec=body,
            queue=queue_for_device(body.device),
            idempotency_key=idempotency_key,
            max_active=settings.max_active_per_tenant,
        )
    except IdempotencyConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except TenantLimitError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from exc
    if created:
        try:
            dispatch(experiment.id, experiment.queue)
        except (BrokerNotConfiguredError, BrokerUnavailableError) as exc:
            mark_dispatch_failed(session=session, experiment_id=experiment.id, reason=str(exc))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"The job could not be queued ({exc}); experiment {experiment.id} was marked "
                "failed. Try again later, with a new Idempotency-Key.",
            ) from exc
    response.headers["Location"] = f"/v1/experiments/{experiment.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ExperimentPublic.from_row(experiment)


@router.get("", response_model=ExperimentsPublic)
def list_experiments_route(
    session: SessionDep,
    tenant: CurrentTenant,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    dataset: Annotated[list[str] | None, Query(description="Dataset name(s).")] = None,
    model: Annotated[list[str] | None, Query(description="Model name(s).")] = None,
    optimizer: Annotated[list[str] | None, Query(description="Optimizer name(s).")] = None,
    name: Annotated[list[str] | None, Query(description="Experiment name(s), exact.")] = None,
    tag: Annotated[list[str] | None, Query(description="Every tag given must be present.")] = None,
    sort: Annotated[SortKey, Query(description="'-' for descending; ties by id.")] = "-created_at",
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ExperimentsPublic:
    """A page of experiments: filters (repeat a parameter for alternatives) are applied
    before paging; ``count`` is the number matching them. Only the tenant's own."""
    filters = ExperimentFilters(
        status=status_ or (),
        dataset=dataset or (),
        model=model or (),
        optimizer=optimizer or (),
        name=name or (),
        tags=tag or (),
    )
    try:
        page = list_experiments(
            session=session,
            tenant_id=tenant.id,
            filters=filters,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    except InvalidCursorError as exc:
        raise invalid_parameter("cursor", str(exc), value=cursor) from exc
    return ExperimentsPublic(
        data=[ExperimentPublic.from_row(row) for row in page.data],
        count=page.count,
        next_cursor=page.next_cursor,
    )


@router.get("/{experiment_id}", response_model=ExperimentPublic)
def read_experiment(experiment: OwnedExperiment, session: SessionDep) -> ExperimentPublic:
    """One experiment: spec, status, progress, final metrics, error, timings, worker,
    device, and its checkpoint files."""
    checkpoints = list_checkpoints(session=session, experiment_id=experiment.id)
    return ExperimentPublic.from_row(experiment, checkpoints=checkpoints)


@router.post(
    "/{experiment_id}/cancel",
    response_model=ExperimentPublic,
    responses={
        202: {"model": ExperimentPublic, "description": "Running: asked to stop (within 2 s)."},
        409: {"model": ErrorPublic, "description": "Already finished."},
    },
)
def cancel_experiment(
    experiment: OwnedExperiment, session: SessionDep, tenant: CurrentTenant, response: Response
) -> ExperimentPublic:
    """Cancel: a queued experiment is cancelled at once and never starts (200); a running
    one is asked to stop and does within about a second (202, then status ``cancelled``);
    a finished one cannot be cancelled (409)."""
    experiment_id = experiment.id
    outcome = request_cancel(session=session, experiment_id=experiment_id, tenant_id=tenant.id)
    if outcome is CancelOutcome.NOT_FOUND:
        raise not_found(experiment_id)
    session.expire_all()  # request_cancel wrote with UPDATE statements
    reread = get_experiment(session=session, experiment_id=experiment_id, tenant_id=tenant.id)
    if reread is None:
        raise not_found(experiment_id)
    experiment = reread
    if outcome is CancelOutcome.FINISHED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Experiment {experiment_id} has already ended ({experiment.status}); "
            "there is nothing to cancel.",
        )
    if outcome is CancelOutcome.STOPPING:
        response.status_code = status.HTTP_202_ACCEPTED
    return ExperimentPublic.from_row(experiment)
