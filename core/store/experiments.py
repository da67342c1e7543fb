"""Store functions for experiments: create, read, list, and the life cycle of a run.

The life cycle, and who moves it::

    queued ──claim──> running ──finish──> succeeded | failed | cancelled
      │                 │  └──reaper (heartbeat too old)──> queued (again) | failed
      └─cancel──> cancelled   (a running job is asked to stop through cancel_requested)

Every transition is one conditional UPDATE (compare-and-set), so two processes racing
for the same row cannot both win: a worker owns a running job through ``lease_id``, a
fresh id written by its claim; its heartbeats and its final write only count while the
row still holds that lease. A delivery of a job that is finished, cancelled, or running
elsewhere with a live heartbeat claims nothing and is dropped: duplicate messages are
harmless, which is what makes ``acks_late`` redelivery and the reaper safe.

Tenants: every function a request reaches takes a keyword-only ``tenant_id`` and sees only
that tenant's experiments; another tenant's experiment is as absent as an unknown id.
``tenant_id=None`` (the worker, the reaper, an administrator) sees them all: it has to be
written out, so a caller cannot forget the tenant by accident.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.spec import SPEC_VERSION, ExperimentSpec
from core.store.models import (
    FINISHED_STATUSES,
    Experiment,
    ExperimentStatus,
    ExperimentTag,
    Tenant,
    UtcDateTime,
    utc_now,
)
from core.store.session import serialized_on_sqlite

# --- creating and reading -----------------------------------------------------------------


class IdempotencyConflictError(Exception):
    """The idempotency key was used before with a different spec."""

    def __init__(self, *, key: str, experiment_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for experiment {experiment_id} "
            "with a different body; use a new key for a new experiment"
        )
        self.key = key
        self.experiment_id = experiment_id


class TenantLimitError(Exception):
    """The tenant already has its maximum of queued and running experiments."""

    def __init__(self, *, active: int, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"You have {active} experiments queued or running, the most allowed at once "
            f"({limit}, ADAMLAB_MAX_ACTIVE_PER_TENANT); submit again when one has finished "
            "or after cancelling one."
        )
        self.active = active
        self.limit = limit
        self.retry_after_s = retry_after_s


RETRY_AFTER_DEFAULT_S = 60
"""Retry-After when no running experiment of the tenant has an ETA (all still queued)."""
RETRY_AFTER_MAX_S = 3600


def spec_hash(spec: ExperimentSpec) -> str:
    """sha256 of the spec's canonical JSON (defaults filled, keys sorted): two bodies that
    validate to the same spec have the same hash, whatever their formatting."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@serialized_on_sqlite
def create_experiment(
    *,
    session: Session,
    tenant_id: str,
    spec: ExperimentSpec,
    queue: str,
    idempotency_key: str | None = None,
    max_active: int | None = None,
    now: datetime | None = None,
) -> tuple[Experiment, bool]:
    """Store a new queued experiment of ``tenant_id``; returns it and whether it was created.

    With an ``idempotency_key`` the tenant already used for the same spec, returns that
    experiment and ``False``; used for another spec, raises ``IdempotencyConflictError``.
    With ``max_active``, raises ``TenantLimitError`` when the tenant already has that many
    experiments queued or running. The count and the insert are one transaction, and on
    PostgreSQL the tenant's row is locked first (SELECT ... FOR UPDATE), so concurrent
    submissions of one tenant, in any number of API processes, are counted one after the
    other. SQLite has no row locks: there the writers of one process queue on
    ``serialized_on_sqlite``'s lock, which covers the embedded default's single API process.
    """
    request_hash = spec_hash(spec) if idempotency_key is not None else None
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, idempotency_key, request_hash), False
    if max_active is not None:
        _check_active_limit(session, tenant_id=tenant_id, limit=max_active)
    experiment = Experiment(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        name=spec.name,
        dataset=spec.dataset.name,
        model=spec.model.name,
        optimizer=spec.optimizer.name,
        requested_device=spec.device,
        queue=queue,
        spec=spec.model_dump(mode="json"),
        spec_version=SPEC_VERSION,
        status=ExperimentStatus.QUEUED,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        cancel_requested=False,
        attempts=0,
        created_at=now or utc_now(),
        tags=[
            ExperimentTag(tag=tag, position=position)
            for position, tag in enumerate(dict.fromkeys(spec.tags))
        ],
    )
    session.add(experiment)
    try:
        session.commit()
    except IntegrityError:
        # Two requests with the same new key raced; the other one's insert won.
        session.rollback()
        existing = (
            _by_idempotency_key(session, tenant_id, idempotency_key) if idempotency_key else None
        )
        if existing is None:
            raise
        return _replayed(existing, idempotency_key, request_hash), False
    return experiment, True


def _by_idempotency_key(session: Session, tenant_id: str, key: str) -> Experiment | None:
    return session.scalar(
        select(Experiment).where(
            Experiment.tenant_id == tenant_id, Experiment.idempotency_key == key
        )
    )


def _check_active_limit(session: Session, *, tenant_id: str, limit: int) -> None:
    """Raise TenantLimitError if the tenant has ``limit`` experiments queued or running.
    Leaves the transaction open (and the tenant's row locked on PostgreSQL) for the insert."""
    locked = session.execute(
        select(Tenant.id).where(Tenant.id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if locked is None:
        raise ValueError(f"tenant_id {tenant_id!r} is not a tenant of this store")
    active = session.execute(
        select(func.count(), func.min(Experiment.eta_s)).where(
            Experiment.tenant_id == tenant_id, Experiment.status.not_in(FINISHED_STATUSES)
        )
    ).one()
    count, soonest_eta_s = active
    if count >= limit:
        session.rollback()
        retry_after_s = (
            min(RETRY_AFTER_MAX_S, max(1, math.ceil(soonest_eta_s)))
            if soonest_eta_s is not None
            else RETRY_AFTER_DEFAULT_S
        )
        raise TenantLimitError(active=count, limit=limit, retry_after_s=retry_after_s)


def _replayed(existing: Experiment, key: str | None, request_hash: str | None) -> Experiment:
    if existing.request_hash != request_hash:
        raise IdempotencyConflictError(key=key or "", experiment_id=existing.id)
    return existing


def get_experiment(
    *, session: Session, experiment_id: str, tenant_id: str | None
) -> Experiment | None:
    """The experiment, if it exists and is ``tenant_id``'s (None: whoever's it is)."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
        return None
    return experiment


@serialized_on_sqlite
def mark_dispatch_failed(
    *, session: Session, experiment_id: str, reason: str, now: datetime | None = None
) -> None:
    """A queued job whose message never reached the broker: failed, with the reason."""
    session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == ExperimentStatus.QUEUED)
        .values(status=ExperimentStatus.FAILED, error=reason, finished_at=now or utc_now())
    )
    session.commit()


# --- listing --------------------------------------------------------------------------------

SORT_COLUMNS = {
    "created_at": Experiment.created_at,
    "name": Experiment.name,
    "status": Experiment.status,
    "dataset": Experiment.dataset,
    "model": Experiment.model,
    "optimizer": Experiment.optimizer,
}
"""What a list can be sorted by: ``<key>`` ascending, ``-<key>`` descending, ties by id."""


class InvalidCursorError(ValueError):
    """A page cursor that this listing did not produce."""


@dataclass(frozen=True, slots=True)
class ExperimentFilters:
    """Filters of a listing, applied before paging. Within one filter the values are
    alternatives (status queued OR running); every tag must be present."""

    status: Sequence[str] = ()
    dataset: Sequence[str] = ()
    model: Sequence[str] = ()
    optimizer: Sequence[str] = ()
    name: Sequence[str] = ()
    tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ExperimentPage:
    data: list[Experiment]
    count: int
    """How many experiments match the filters, over all pages."""
    next_cursor: str | None


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"-created_at"`` → ``("created_at", True)``; raises ValueError for an unknown key."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_COLUMNS:
        raise ValueError(
            f"sort must be one of {sorted(SORT_COLUMNS)}, each optionally prefixed with '-' "
            f"for descending order (got {sort!r})"
        )
    return key, descending


def list_experiments(
    *,
    session: Session,
    tenant_id: str | None,
    filters: ExperimentFilters,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> ExperimentPage:
    """One page of the experiments matching ``filters``, in ``sort`` order (keyset paging:
    a cursor holds the sort value and id of the page's last row, so pages do not shift when
    experiments are added). Only ``tenant_id``'s experiments (None: everyone's)."""
    key, descending = parse_sort(sort)
    column = SORT_COLUMNS[key]
    query = _filtered(select(Experiment), filters, tenant_id=tenant_id)
    count = (
        session.scalar(
            _filtered(select(func.count()).select_from(Experiment), filters, tenant_id=tenant_id)
        )
        or 0
    )
    if cursor is not None:
        after_value, after_id = _decode_cursor(cursor, sort=sort)
        if descending:
            query = query.where(
                or_(column < after_value, and_(column == after_value, Experiment.id < after_id))
            )
        else:
            query = query.where(
                or_(column > after_value, and_(column == after_value, Experiment.id > after_id))
            )
    order = (column.desc(), Experiment.id.desc()) if descending else (column, Experiment.id)
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(sort=sort, value=getattr(rows[-1], key), row_id=rows[-1].id)
    return ExperimentPage(data=rows, count=count, next_cursor=next_cursor)


def _filtered(
    query: Select[Any], filters: ExperimentFilters, *, tenant_id: str | None
) -> Select[Any]:
    if tenant_id is not None:
        query = query.where(Experiment.tenant_id == tenant_id)
    for column, values in (
        (Experiment.status, filters.status),
        (Experiment.dataset, filters.dataset),
        (Experiment.model, filters.model),
        (Experiment.optimizer, filters.optimizer),
        (Experiment.name, filters.name),
    ):
        if values:
            query = query.where(column.in_(list(values)))
    for tag in dict.fromkeys(filters.tags):
        query = query.where(Experiment.tags.any(ExperimentTag.tag == tag))
    return query


def _encode_cursor(*, sort: str, value: Any, row_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"sort": sort, "value": value, "id": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, *, sort: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor_sort, value, row_id = decoded["sort"], decoded["value"], decoded["id"]
        if not isinstance(row_id, str) or not isinstance(value, str):
            raise TypeError("cursor fields are not strings")
        if parse_sort(sort)[0] == "created_at":
            value = datetime.fromisoformat(value)
    except (binascii.Error, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidCursorError(
            "cursor is not one this listing returned; start again without it"
        ) from exc
    if cursor_sort != sort:
        raise InvalidCursorError(
            f"cursor was made for sort={cursor_sort!r}, not sort={sort!r}; start again without it"
        )
    return value, row_id


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's hold on a running job."""

    experiment_id: str
    lease_id: str
    attempt: int
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running job is; ``fraction`` in [0, 1], ``eta_s`` seconds to go."""

    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    total_steps: int | None = None
    fraction: float | None = None
    eta_s: float | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    lease_held: bool
    """False once the job is no longer this worker's (reaped, or finished elsewhere)."""
    cancel_requested: bool


def _claimable(stale_before: datetime) -> Any:
    return or_(
        Experiment.status == ExperimentStatus.QUEUED,
        and_(
            Experiment.status == ExperimentStatus.RUNNING,
            Experiment.heartbeat_at < stale_before,
        ),
    )


@serialized_on_sqlite
def claim_experiment(
    *,
    session: Session,
    experiment_id: str,
    worker: str,
    heartbeat_timeout_s: float,
    max_attempts: int,
    now: datetime | None = None,
) -> Claim | None:
    """Make the job this worker's, if it is queued, or running with a heartbeat older
    than ``heartbeat_timeout_s`` (its worker is gone), and has attempts left.

    Returns None when there is nothing to run: the job is unknown, finished, cancelled, or
    running with a live heartbeat elsewhere. A job that is due but has used its
    ``max_attempts`` is marked failed with the reason.
    """
    now = now or utc_now()
    stale_before = now - timedelta(seconds=heartbeat_timeout_s)
    lease_id = str(uuid.uuid4())
    claimed = session.execute(
        update(Experiment)
        .where(
            Experiment.id == experiment_id,
            _claimable(stale_before),
            Experiment.cancel_requested.is_(False),
            Experiment.attempts < max_attempts,
        )
        .values(
            status=ExperimentStatus.RUNNING,
            lease_id=lease_id,
            worker=worker,
            attempts=Experiment.attempts + 1,
            heartbeat_at=now,
            started_at=func.coalesce(Experiment.started_at, literal(now, UtcDateTime())),
            error=None,
        )
    ).rowcount
    if claimed != 1:
        # Due but not to be run: cancelled while its worker was gone, or out of attempts.
        session.execute(
            update(Experiment)
            .where(
                Experiment.id == experiment_id,
                _claimable(stale_before),
                Experiment.cancel_requested.is_(True),
            )
            .values(status=ExperimentStatus.CANCELLED, finished_at=now)
        )
        session.execute(
            update(Experiment)
            .where(
                Experiment.id == experiment_id,
                _claimable(stale_before),
                Experiment.attempts >= max_attempts,
            )
            .values(
                status=ExperimentStatus.FAILED,
                finished_at=now,
                error=f"gave up after {max_attempts} attempts: each worker that started "
                "this job stopped sending heartbeats (killed, or out of memory?)",
            )
        )
        session.commit()
        return None
    session.commit()
    row = session.execute(
        select(Experiment.attempts, Experiment.spec).where(Experiment.id == experiment_id)
    ).one()
    return Claim(
        experiment_id=experiment_id, lease_id=lease_id, attempt=row.attempts, spec=row.spec
    )


@serialized_on_sqlite
def record_heartbeat(
    *,
    session: Session,
    experiment_id: str,
    lease_id: str,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> HeartbeatReply:
    """Say the job is alive (and how far it is); answer whether it is still ours and
    whether someone asked to cancel it."""
    values: dict[str, Any] = {"heartbeat_at": now or utc_now()}
    if progress is not None:
        values |= _progress_values(progress)
    held = _update_while_leased(
        session=session, experiment_id=experiment_id, lease_id=lease_id, values=values
    )
    cancel_requested = session.scalar(
        select(Experiment.cancel_requested).where(Experiment.id == experiment_id)
    )
    return HeartbeatReply(lease_held=held, cancel_requested=bool(cancel_requested))


def _update_while_leased(
    *, session: Session, experiment_id: str, lease_id: str, values: dict[str, Any]
) -> bool:
    """Write ``values`` to a running job only while ``lease_id`` still holds it (commits);
    returns whether it did."""
    updated = session.execute(
        update(Experiment)
        .where(
            Experiment.id == experiment_id,
            Experiment.lease_id == lease_id,
            Experiment.status == ExperimentStatus.RUNNING,
        )
        .values(**values)
    ).rowcount
    session.commit()
    return updated == 1


def _progress_values(progress: Progress) -> dict[str, Any]:
    values = {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "step": progress.step,
        "total_steps": progress.total_steps,
        "fraction": _finite_or_none(progress.fraction),
        "eta_s": _finite_or_none(progress.eta_s),
        "device": progress.device,
    }
    return {name: value for name, value in values.items() if value is not None}


@serialized_on_sqlite
def finish_experiment(
    *,
    session: Session,
    experiment_id: str,
    lease_id: str,
    status: ExperimentStatus,
    final_metrics: dict[str, Any] | None = None,
    error: str | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    resumed_from_epoch: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the end of a run, if the job is still this lease's; returns whether it was.
    ``resumed_from_epoch`` is the epoch of the checkpoint the run started from (0: none)."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"status must be one of {sorted(FINISHED_STATUSES)}, not {status!r}")
    now = now or utc_now()
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "heartbeat_at": now,
        "final_metrics": _json_safe(final_metrics) if final_metrics is not None else None,
        "error": error,
        "resumed_from_epoch": resumed_from_epoch,
    }
    if progress is not None:
        values |= _progress_values(progress)
    if device is not None:
        values["device"] = device
    if status == ExperimentStatus.SUCCEEDED:
        values |= {"fraction": 1.0, "eta_s": 0.0}
    return _update_while_leased(
        session=session, experiment_id=experiment_id, lease_id=lease_id, values=values
    )


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """NaN and ±inf become null: JSON (and PostgreSQL's json) has no word for them."""
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


# --- cancelling -------------------------------------------------------------------------------


class CancelOutcome(enum.StrEnum):
    CANCELLED = "cancelled"
    """It was queued: it is cancelled now and will never start."""
    STOPPING = "stopping"
    """It is running: its worker sees the request at its next heartbeat and stops."""
    FINISHED = "finished"
    """It had already ended; nothing to cancel."""
    NOT_FOUND = "not_found"


@serialized_on_sqlite
def request_cancel(
    *, session: Session, experiment_id: str, tenant_id: str | None, now: datetime | None = None
) -> CancelOutcome:
    """Cancel a queued job at once, or ask a running one to stop; another tenant's job is
    NOT_FOUND."""
    this_one = (
        (Experiment.id == experiment_id,)
        if tenant_id is None
        else (Experiment.id == experiment_id, Experiment.tenant_id == tenant_id)
    )
    cancelled = session.execute(
        update(Experiment)
        .where(*this_one, Experiment.status == ExperimentStatus.QUEUED)
        .values(
            status=ExperimentStatus.CANCELLED, cancel_requested=True, finished_at=now or utc_now()
        )
    ).rowcount
    if cancelled == 1:
        session.commit()
        return CancelOutcome.CANCELLED
    stopping = session.execute(
        update(Experiment)
        .where(*this_one, Experiment.status == ExperimentStatus.RUNNING)
        .values(cancel_requested=True)
    ).rowcount
    session.commit()
    if stopping == 1:
        return CancelOutcome.STOPPING
    exists = session.scalar(select(Experiment.id).where(*this_one))
    return CancelOutcome.FINISHED if exists is not None else CancelOutcome.NOT_FOUND


# --- the reaper -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReapReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


@serialized_on_sqlite
def reap_lost_experiments(
    *,
    session: Session,
    heartbeat_timeout_s: float,
    max_attempts: int,
    dispatch: Callable[[str, str], None],
    now: datetime | None = None,
) -> ReapReport:
    """Requeue each running job whose heartbeat is older than ``heartbeat_timeout_s`` (its
    worker was killed, lost its machine, or hangs), or fail it once it has used
    ``max_attempts``, or mark it cancelled if a cancel was asked for; returns what it did.

    ``dispatch(experiment_id, queue)`` sends the job's message. It is called BEFORE the row
    goes back to queued: a stale running job is already claimable, so a message consumed
    at once finds it; and if sending fails, the row stays stale and the next sweep tries
    again, where the other order could leave a queued row with no message.
    """
    now = now or utc_now()
    stale_before = now - timedelta(seconds=heartbeat_timeout_s)
    lost = session.execute(
        select(
            Experiment.id,
            Experiment.queue,
            Experiment.lease_id,
            Experiment.attempts,
            Experiment.cancel_requested,
        ).where(
            Experiment.status == ExperimentStatus.RUNNING,
            Experiment.heartbeat_at < stale_before,
        )
    ).all()
    session.commit()
    report = ReapReport()
    for job in lost:
        still_lost = (
            Experiment.id == job.id,
            Experiment.status == ExperimentStatus.RUNNING,
            Experiment.lease_id == job.lease_id,
            Experiment.heartbeat_at < stale_before,
        )
        if job.cancel_requested:  # asked to stop, then its worker vanished: done
            cancelled = session.execute(
                update(Experiment)
                .where(*still_lost)
                .values(status=ExperimentStatus.CANCELLED, finished_at=now)
            ).rowcount
            session.commit()
            if cancelled == 1:
                report.cancelled.append(job.id)
            continue
        if job.attempts >= max_attempts:
            failed = session.execute(
                update(Experiment)
                .where(*still_lost)
                .values(
                    status=ExperimentStatus.FAILED,
                    finished_at=now,
                    error=f"gave up after {job.attempts} attempts: its worker stopped sending "
                    f"heartbeats for more than {heartbeat_timeout_s:g} s each time "
                    "(killed, or out of memory?)",
                )
            ).rowcount
            session.commit()
            if failed == 1:
                report.failed.append(job.id)
            continue
        dispatch(job.id, job.queue)
        requeued = session.execute(
            update(Experiment)
            .where(*still_lost)
            .values(
                status=ExperimentStatus.QUEUED,
                lease_id=None,
                worker=None,
                eta_s=None,
                error=f"requeued: worker lost (no heartbeat for more than "
                f"{heartbeat_timeout_s:g} s) on attempt {job.attempts}",
            )
        ).rowcount
        session.commit()
        if requeued == 1:
            report.requeued.append(job.id)
    return report


# --- aggregates, for monitoring -------------------------------------------------------------


def count_by_status_and_queue(*, session: Session) -> dict[tuple[str, str], int]:
    """How many experiments of all tenants are in each (status, queue)."""
    rows = session.execute(
        select(Experiment.status, Experiment.queue, func.count()).group_by(
            Experiment.status, Experiment.queue
        )
    )
    return {(status, queue): count for status, queue, count in rows}


def training_steps_per_second(
    *, session: Session, heartbeat_timeout_s: float, now: datetime | None = None
) -> float:
    """The training speed of the service now: the sum over running experiments with a live
    heartbeat of each one's own speed, ``(total_steps - step) / eta_s`` (its worker
    computes ``eta_s`` from the speed it measures, so this gives that speed back)."""
    live_after = (now or utc_now()) - timedelta(seconds=heartbeat_timeout_s)
    rows = session.execute(
        select(Experiment.total_steps, Experiment.step, Experiment.eta_s).where(
            Experiment.status == ExperimentStatus.RUNNING,
            Experiment.heartbeat_at >= live_after,
            Experiment.eta_s > 0,
            Experiment.total_steps > Experiment.step,
        )
    )
    return float(sum((total - step) / eta_s for total, step, eta_s in rows))
