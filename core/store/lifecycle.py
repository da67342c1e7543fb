"""The life cycle of a run, and who moves it::

    queued ──claim──> running ──finish──> succeeded | failed | cancelled
      │ │               │  ├──reaper (heartbeat too old)──> queued (again) | failed
      │ │               │  └──release (its worker shuts down cleanly)──> queued (again)
      │ └─reaper (no worker on its queue for ADAMLAB_NO_WORKER_TIMEOUT_S)──> failed
      └─cancel──> cancelled   (a running job is asked to stop through cancel_requested;
                               its finish then records cancelled, whatever the run says)

Every transition is one conditional UPDATE (compare-and-set, ``_transition``), so two
processes racing for the same row cannot both win: a worker owns a running job through
``lease_id``, a fresh id written by its claim; its heartbeats and its final write only
count while the row still holds that lease. A delivery of a job that is finished,
cancelled, or running elsewhere with a live heartbeat claims nothing and is dropped:
duplicate messages are harmless, which is what makes ``acks_late`` redelivery and the
reaper safe.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from core.metrics import Progress, finite_or_none
from core.run_environment import RunEnvironment
from core.store.models import (
    FINISHED_STATUSES,
    ExperimentRow,
    ExperimentStatus,
    UtcDateTime,
    utc_now,
)
from core.store.session import serialized_on_sqlite


def _transition(session: Session, *conditions: ColumnElement[bool], **values: object) -> bool:
    """Write ``values`` to the experiment row matching every one of ``conditions`` and
    commit; returns whether a row matched (at most one: the conditions name an id)."""
    # An UPDATE gives a CursorResult; Session.execute's stubs say only Result.
    result = session.execute(update(ExperimentRow).where(*conditions).values(**values))
    changed = cast(CursorResult[Any], result).rowcount
    session.commit()
    return changed == 1


@serialized_on_sqlite
def mark_dispatch_failed(
    *, session: Session, experiment_id: str, reason: str, now: datetime | None = None
) -> None:
    """A queued job whose message never reached the broker: failed, with the reason."""
    _transition(
        session,
        ExperimentRow.id == experiment_id,
        ExperimentRow.status == ExperimentStatus.QUEUED,
        status=ExperimentStatus.FAILED,
        error=reason,
        finished_at=now or utc_now(),
    )


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's hold on a running job."""

    experiment_id: str
    lease_id: str
    attempt: int
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    lease_held: bool
    """False once the job is no longer this worker's (reaped, or finished elsewhere)."""
    cancel_requested: bool


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    return or_(
        ExperimentRow.status == ExperimentStatus.QUEUED,
        and_(
            ExperimentRow.status == ExperimentStatus.RUNNING,
            ExperimentRow.heartbeat_at < stale_before,
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
    due = (ExperimentRow.id == experiment_id, _claimable(stale_before))
    lease_id = str(uuid.uuid4())
    claimed = _transition(
        session,
        *due,
        ExperimentRow.cancel_requested.is_(False),
        ExperimentRow.attempts < max_attempts,
        status=ExperimentStatus.RUNNING,
        lease_id=lease_id,
        worker=worker,
        attempts=ExperimentRow.attempts + 1,
        heartbeat_at=now,
        started_at=func.coalesce(ExperimentRow.started_at, literal(now, UtcDateTime())),
        error=None,
    )
    if not claimed:
        # Due but not to be run: cancelled while its worker was gone, or out of attempts.
        _transition(
            session,
            *due,
            ExperimentRow.cancel_requested.is_(True),
            status=ExperimentStatus.CANCELLED,
            finished_at=now,
        )
        _transition(
            session,
            *due,
            ExperimentRow.attempts >= max_attempts,
            status=ExperimentStatus.FAILED,
            finished_at=now,
            error=f"gave up after {max_attempts} attempts: each worker that started "
            "this job stopped sending heartbeats (killed, or out of memory?)",
        )
        return None
    row = session.execute(
        select(ExperimentRow.attempts, ExperimentRow.spec).where(ExperimentRow.id == experiment_id)
    ).one()
    return Claim(
        experiment_id=experiment_id, lease_id=lease_id, attempt=row.attempts, spec=row.spec
    )


def _leased(experiment_id: str, lease_id: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a write that counts only while ``lease_id`` holds the running job."""
    return (
        ExperimentRow.id == experiment_id,
        ExperimentRow.lease_id == lease_id,
        ExperimentRow.status == ExperimentStatus.RUNNING,
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
    values: dict[str, object] = {"heartbeat_at": now or utc_now()}
    if progress is not None:
        values |= _progress_values(progress)
    held = _transition(session, *_leased(experiment_id, lease_id), **values)
    cancel_requested = session.scalar(
        select(ExperimentRow.cancel_requested).where(ExperimentRow.id == experiment_id)
    )
    return HeartbeatReply(lease_held=held, cancel_requested=bool(cancel_requested))


@serialized_on_sqlite
def record_environment(
    *, session: Session, experiment_id: str, lease_id: str, environment: RunEnvironment
) -> bool:
    """Keep the reproducibility record of the run that holds ``lease_id`` (written when
    the run starts, again by each resumed delivery: a resume may run elsewhere)."""
    return _transition(
        session,
        *_leased(experiment_id, lease_id),
        environment=environment.model_dump(mode="json"),
    )


def _progress_values(progress: Progress) -> dict[str, object]:
    """The progress columns to write: the known fields, non-finite numbers left out."""
    values = {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "step": progress.step,
        "total_steps": progress.total_steps,
        "fraction": finite_or_none(progress.fraction),
        "eta_s": finite_or_none(progress.eta_s),
        "device": progress.device,
    }
    return {name: value for name, value in values.items() if value is not None}


class RunEnding(TypedDict, total=False):
    """What ``finish_experiment`` records besides the status (each optional)."""

    final_metrics: dict[str, float] | None
    error: str | None
    device: str | None
    progress: Progress | None
    resumed_from_epoch: int | None


@serialized_on_sqlite
def finish_experiment(
    *,
    session: Session,
    experiment_id: str,
    lease_id: str,
    status: ExperimentStatus,
    final_metrics: dict[str, float] | None = None,
    error: str | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    resumed_from_epoch: int | None = None,
    now: datetime | None = None,
) -> ExperimentStatus | None:
    """Record the end of a run, if the job is still this lease's; returns the status
    recorded, or None when the lease was no longer held (nothing written).

    A job asked to cancel ends ``cancelled`` whatever ``status`` the run reached: the
    status is chosen inside the UPDATE from the row's ``cancel_requested`` (one statement,
    so a cancel answered 202 just before the finish cannot be overtaken by it); a failure's
    ``error`` is kept, else the error says it was cancelled. ``resumed_from_epoch`` is the
    epoch of the checkpoint the run started from (0: none)."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"status must be one of {sorted(FINISHED_STATUSES)}, not {status!r}")
    now = now or utc_now()
    cancelled = ExperimentRow.cancel_requested.is_(True)
    values: dict[str, object] = {
        "status": case((cancelled, literal(ExperimentStatus.CANCELLED.value)), else_=status.value),
        "finished_at": now,
        "heartbeat_at": now,
        "final_metrics": _json_safe(final_metrics) if final_metrics is not None else None,
        "error": case((cancelled, literal(error or CANCELLED_ERROR)), else_=literal(error, Text())),
        "resumed_from_epoch": resumed_from_epoch,
    }
    if progress is not None:
        values |= _progress_values(progress)
    if device is not None:
        values["device"] = device
    if status == ExperimentStatus.SUCCEEDED:
        values |= {"fraction": 1.0, "eta_s": 0.0}
    result = session.execute(
        update(ExperimentRow)
        .where(*_leased(experiment_id, lease_id))
        .values(**values)
        .returning(ExperimentRow.status)
    )
    recorded = result.scalar_one_or_none()
    session.commit()
    return None if recorded is None else ExperimentStatus(recorded)


CANCELLED_ERROR = "cancelled at the user's request"
"""The error of a run that ended because it was cancelled."""
HANDED_BACK_ERROR = (
    "handed back: its worker shut down cleanly; queued again, to resume from its checkpoint"
)


@serialized_on_sqlite
def release_experiment(
    *,
    session: Session,
    experiment_id: str,
    lease_id: str,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> bool:
    """Hand a running job back, if it is still this lease's: its worker is shutting down
    cleanly. The row goes back to ``queued`` with no lease and no heartbeat, so the next
    delivery claims it at once (the checkpoints stay); returns whether it was handed back.
    The attempt is given back too: a clean stop is not a failure of the job. A job asked
    to cancel meanwhile ends ``cancelled`` instead (one UPDATE, as in the finish)."""
    now = now or utc_now()
    cancelled = ExperimentRow.cancel_requested.is_(True)
    values: dict[str, object] = {
        "status": case(
            (cancelled, literal(ExperimentStatus.CANCELLED.value)),
            else_=literal(ExperimentStatus.QUEUED.value),
        ),
        "finished_at": case((cancelled, literal(now, UtcDateTime())), else_=None),
        "lease_id": None,
        "worker": None,
        "heartbeat_at": None,
        "eta_s": None,
        "attempts": case(
            (ExperimentRow.attempts > 0, ExperimentRow.attempts - 1), else_=ExperimentRow.attempts
        ),
        "error": case(
            (cancelled, literal(CANCELLED_ERROR)),
            else_=literal(HANDED_BACK_ERROR),
        ),
    }
    if progress is not None:
        values |= {
            key: value for key, value in _progress_values(progress).items() if key != "eta_s"
        }
    return _transition(session, *_leased(experiment_id, lease_id), **values)


def _json_safe(value: object) -> object:
    """NaN and ±inf become null: JSON (and PostgreSQL's json) has no word for them."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        mapping = cast("dict[object, object]", value)  # isinstance leaves the items unknown
        return {str(key): _json_safe(item) for key, item in mapping.items()}
    if isinstance(value, list | tuple):
        sequence = cast("list[object] | tuple[object, ...]", value)
        return [_json_safe(item) for item in sequence]
    return value


# --- cancelling -------------------------------------------------------------------------------


class CancelOutcome(enum.StrEnum):
    """What a cancel request found, and so what it answers. A repeat answers the same as
    long as the job is in the same state: a cancelled job is CANCELLED to every request,
    a running one STOPPING to every request until it has stopped (then CANCELLED)."""

    CANCELLED = "cancelled"
    """It is cancelled: it was queued and is cancelled now, never to start, or an earlier
    cancel already ended it."""
    STOPPING = "stopping"
    """It is running and asked to stop: its worker sees the request at its next heartbeat
    and stops; however the run ends, it is recorded as cancelled."""
    FINISHED = "finished"
    """It had already succeeded or failed; nothing to cancel."""
    NOT_FOUND = "not_found"


@serialized_on_sqlite
def request_cancel(
    *, session: Session, experiment_id: str, tenant_id: str | None, now: datetime | None = None
) -> CancelOutcome:
    """Cancel a queued job at once, or ask a running one to stop; another tenant's job is
    NOT_FOUND.

    One UPDATE does it (a queued row becomes cancelled, a running one gets
    ``cancel_requested``), so racing cancels, claims and finishes of the same job are
    ordered by the database: a claim never starts a job cancelled while queued, and a
    finish after a STOPPING answer records cancelled (``finish_experiment``)."""
    this_one = (
        (ExperimentRow.id == experiment_id,)
        if tenant_id is None
        else (ExperimentRow.id == experiment_id, ExperimentRow.tenant_id == tenant_id)
    )
    queued = ExperimentRow.status == ExperimentStatus.QUEUED
    result = session.execute(
        update(ExperimentRow)
        .where(
            *this_one,
            ExperimentRow.status.in_([ExperimentStatus.QUEUED, ExperimentStatus.RUNNING]),
        )
        .values(
            cancel_requested=True,
            # SET expressions read the row as it was: a queued row ends here.
            status=case(
                (queued, literal(ExperimentStatus.CANCELLED.value)), else_=ExperimentRow.status
            ),
            finished_at=case(
                (queued, literal(now or utc_now(), UtcDateTime())),
                else_=ExperimentRow.finished_at,
            ),
            error=case((queued, literal(CANCELLED_ERROR)), else_=ExperimentRow.error),
        )
        .returning(ExperimentRow.status)
    )
    changed = result.scalar_one_or_none()
    session.commit()
    if changed is None:  # not queued nor running: say what it is
        changed = session.scalar(select(ExperimentRow.status).where(*this_one))
        session.commit()
    if changed is None:
        return CancelOutcome.NOT_FOUND
    if changed == ExperimentStatus.CANCELLED:
        return CancelOutcome.CANCELLED
    if changed == ExperimentStatus.RUNNING:
        return CancelOutcome.STOPPING
    return CancelOutcome.FINISHED


# --- the reaper -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReapReport:
    requeued: list[str] = field(default_factory=list[str])
    failed: list[str] = field(default_factory=list[str])
    cancelled: list[str] = field(default_factory=list[str])


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
            ExperimentRow.id,
            ExperimentRow.queue,
            ExperimentRow.lease_id,
            ExperimentRow.attempts,
            ExperimentRow.cancel_requested,
        ).where(
            ExperimentRow.status == ExperimentStatus.RUNNING,
            ExperimentRow.heartbeat_at < stale_before,
        )
    ).all()
    session.commit()
    report = ReapReport()
    for job in lost:
        still_lost = (
            ExperimentRow.id == job.id,
            ExperimentRow.status == ExperimentStatus.RUNNING,
            ExperimentRow.lease_id == job.lease_id,
            ExperimentRow.heartbeat_at < stale_before,
        )
        if job.cancel_requested:  # asked to stop, then its worker vanished: done
            if _transition(
                session, *still_lost, status=ExperimentStatus.CANCELLED, finished_at=now
            ):
                report.cancelled.append(job.id)
        elif job.attempts >= max_attempts:
            if _transition(
                session,
                *still_lost,
                status=ExperimentStatus.FAILED,
                finished_at=now,
                error=f"gave up after {job.attempts} attempts: its worker stopped sending "
                f"heartbeats for more than {heartbeat_timeout_s:g} s each time "
                "(killed, or out of memory?)",
            ):
                report.failed.append(job.id)
        else:
            dispatch(job.id, job.queue)
            if _transition(
                session,
                *still_lost,
                status=ExperimentStatus.QUEUED,
                lease_id=None,
                worker=None,
                eta_s=None,
                error=f"requeued: worker lost (no heartbeat for more than "
                f"{heartbeat_timeout_s:g} s) on attempt {job.attempts}",
            ):
                report.requeued.append(job.id)
    return report


@serialized_on_sqlite
def fail_unserved_experiments(
    *,
    session: Session,
    queue: str,
    unserved_since: datetime,
    timeout_s: float,
    now: datetime | None = None,
) -> list[str]:
    """Fail the queued jobs of ``queue`` that have waited more than ``timeout_s`` while no
    worker consumed it: since ``unserved_since`` (when the queue lost its last worker, or
    later) or since they were queued, whichever is later. Returns their ids; the error
    names the queue and the setting."""
    now = now or utc_now()
    cutoff = now - timedelta(seconds=timeout_s)
    if unserved_since >= cutoff:
        return []
    since = unserved_since.strftime("%Y-%m-%d %H:%M:%S UTC")
    result = session.execute(
        update(ExperimentRow)
        .where(
            ExperimentRow.status == ExperimentStatus.QUEUED,
            ExperimentRow.queue == queue,
            ExperimentRow.created_at < cutoff,
        )
        .values(
            status=ExperimentStatus.FAILED,
            finished_at=now,
            error=f"no worker for queue {queue!r}: none has consumed it since {since}, and "
            f"the job waited longer than ADAMLAB_NO_WORKER_TIMEOUT_S ({timeout_s:g} s); start one "
            f"(adamlab worker --queues {queue}) and submit again"
            + (", or submit with device 'cpu'" if queue == "gpu" else ""),
        )
        .returning(ExperimentRow.id)
    )
    failed = list(result.scalars())
    session.commit()
    return failed
