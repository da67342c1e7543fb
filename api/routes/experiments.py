"""Experiments: submit, list, read, cancel; each request sees only its tenant's."""

from __future__ import annotations

from typing import Annotated

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
from api.openapi import RETRY_AFTER_HEADER
from api.params import (
    Cursor,
    DatasetFilter,
    ModelFilter,
    NameContains,
    NameFilter,
    OptimizerFilter,
    SortParam,
    StatusFilter,
    SweepFilter,
    TagFilter,
)
from api.schemas import (
    ErrorPublic,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentsPublic,
)
from core.celery_app import BrokerNotConfiguredError, BrokerUnavailableError, queue_for_device
from core.cost_limits import CostLimits, check_cost
from core.presence import QueuePresence, queue_presence
from core.run_logs import bytes_on_disk
from core.settings import settings
from core.store.cancel import CancelOutcome, request_cancel
from core.store.checkpoints import list_checkpoints
from core.store.experiments import (
    IdempotencyConflictError,
    TenantLimitError,
    create_experiment,
    get_experiment,
)
from core.store.lifecycle import mark_dispatch_failed
from core.store.listing import ExperimentFilters, list_experiments
from core.store.outage import RETRY_AFTER_S
from core.store.paging import InvalidCursorError

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=KeyedRoute)

not_found = experiment_not_found


def presence_for(*queued_in: str) -> dict[str, QueuePresence] | None:
    """The presence of workers on the given queues (those of queued experiments only, so
    reading finished or running ones never asks Redis)."""
    return queue_presence(sorted(set(queued_in))) if queued_in else None


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
        503: {
            "model": ErrorPublic,
            "description": "The queue's broker or the store is unreachable (or a statement "
            "of the store ran past ADAMLAB_STATEMENT_TIMEOUT_S); try again after Retry-After.",
            "headers": RETRY_AFTER_HEADER,
        },
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
    experiments, 429 with Retry-After (the soonest ETA of its running ones). A spec beyond
    a cost limit (``limits`` in GET /v1/catalog) is 422, naming the field to change."""
    check_cost(body, CostLimits.from_settings())  # CostLimitError: 422 (api/errors.py)
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
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from exc
    response.headers["Location"] = f"/v1/experiments/{experiment.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    queued = (experiment.queue,) if experiment.status == "queued" else ()
    return ExperimentPublic.from_row(experiment, presence=presence_for(*queued))


@router.get("", response_model=ExperimentsPublic)
def list_experiments_route(
    session: SessionDep,
    tenant: CurrentTenant,
    status_: StatusFilter = None,
    dataset: DatasetFilter = None,
    model: ModelFilter = None,
    optimizer: OptimizerFilter = None,
    name: NameFilter = None,
    tag: TagFilter = None,
    name_contains: NameContains = None,
    sweep: SweepFilter = None,
    sort: SortParam = "-created_at",
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ExperimentsPublic:
    """A page of experiments: filters (repeat a parameter for alternatives; name_contains
    a substring of the name) are applied before paging; ``count`` is the number matching
    them; ``sweep`` keeps a sweep's members. Sorted by a column or a final metric
    (sort=-test_acc: the best first, runs without it last). Only the tenant's own."""
    filters = ExperimentFilters(
        status=status_ or (),
        dataset=dataset or (),
        model=model or (),
        optimizer=optimizer or (),
        name=name or (),
        tags=tag or (),
        name_contains=name_contains,
        sweep=sweep,
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
    presence = presence_for(*(row.queue for row in page.data if row.status == "queued"))
    return ExperimentsPublic(
        data=[ExperimentPublic.from_row(row, presence=presence) for row in page.data],
        count=page.count,
        next_cursor=page.next_cursor,
    )


@router.get("/{experiment_id}", response_model=ExperimentPublic)
def read_experiment(experiment: OwnedExperiment, session: SessionDep) -> ExperimentPublic:
    """One experiment: spec, status, progress, final metrics, error, timings, worker,
    device, its checkpoint files, the bytes its folder holds, and, queued with no live
    worker on its queue, ``no_worker``."""
    checkpoints = list_checkpoints(session=session, experiment_id=experiment.id)
    queued = (experiment.queue,) if experiment.status == "queued" else ()
    return ExperimentPublic.from_row(
        experiment,
        checkpoints=checkpoints,
        disk_bytes=bytes_on_disk(settings.checkpoint_dir(experiment.id)),
        presence=presence_for(*queued),
    )


@router.post(
    "/{experiment_id}/cancel",
    response_model=ExperimentPublic,
    responses={
        200: {
            "model": ExperimentPublic,
            "description": "Cancelled: it was queued and never starts, or an earlier cancel "
            "already ended it (every repeat answers this).",
        },
        202: {
            "model": ExperimentPublic,
            "description": "Running: asked to stop; it ends cancelled (every repeat answers "
            "202 until it has stopped, then 200).",
        },
        409: {"model": ErrorPublic, "description": "It had already succeeded or failed."},
    },
)
def cancel_experiment(
    experiment: OwnedExperiment, session: SessionDep, tenant: CurrentTenant, response: Response
) -> ExperimentPublic:
    """Cancel. The answer follows the state the request leaves the job in, so a repeat
    answers the same: **200** it is cancelled (it was queued and never starts, or it was
    cancelled before); **202** it is running and will stop within about a second, and
    whatever the run reaches meanwhile it ends ``cancelled``; **409** it had already
    succeeded or failed, which the detail says."""
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
            f"Experiment {experiment_id} had already ended ({experiment.status}) before the "
            "cancel; there is nothing to cancel.",
        )
    if outcome is CancelOutcome.STOPPING:
        response.status_code = status.HTTP_202_ACCEPTED
    return ExperimentPublic.from_row(experiment)
