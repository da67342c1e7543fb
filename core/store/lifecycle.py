"""The life cycle of a run, and who moves it::

    queued ──claim──> running ──finish──> succeeded | failed | cancelled
      │ │               │  ├──reaper (heartbeat too old)──> queued (again) | failed
      │ │               │  └──release (its worker shuts down cleanly)──> queued (again)
      │ └─reaper (no worker on its queue for ADAMLAB_NO_WORKER_TIMEOUT_S)──> failed
      └─cancel──> cancelled   (a running job is asked to stop through cancel_requested;
                               its finish then records cancelled, whatever the run says)

This module holds the claim, the heartbeat, the finish and the hand-back; the cancel is
``core.store.cancel``, the reaper's transitions ``core.store.reaping``. Every transition
is one conditional UPDATE (compare-and-set, ``core.store.transition``), so two
processes racing for the same row cannot both win: a worker owns a running job through
``lease_id``, a fresh id written by its claim; its heartbeats and its final write only
count while the row still holds that lease. A delivery of a job that is finished,
cancelled, or running elsewhere with a live heartbeat claims nothing and is dropped:
duplicate messages are harmless, which is what makes ``acks_late`` redelivery and the
reaper safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from sqlalchemy import (
    ColumnElement,
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
from core.store.transition import transition


@serialized_on_sqlite
def mark_dispatch_failed(
    *, session: Session, experiment_id: str, reason: str, now: datetime | None = None
) -> None:
    """A queued job whose message never reached the broker: failed, with the reason."""
    transition(
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
    taken_from: str | None = None
    """The worker whose run this claim took over (its heartbeat was stale); None for a
    queued job. Its other jobs are as dead: a group's mates are claimed from it at once."""


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    lease_held: bool
    """False once the job is no longer this worker's (reaped, or finished elsewhere)."""
    cancel_requested: bool


def _claimable(stale_before: datetime, dead_worker: str | None = None) -> ColumnElement[bool]:
    running = ExperimentRow.status == ExperimentStatus.RUNNING
    gone = ExperimentRow.heartbeat_at < stale_before
    if dead_worker is not None:
        gone = or_(gone, ExperimentRow.worker == dead_worker)
    return or_(ExperimentRow.status == ExperimentStatus.QUEUED, and_(running, gone))


@serialized_on_sqlite
def claim_experiment(
    *,
    session: Session,
    experiment_id: str,
    worker: str,
    heartbeat_timeout_s: float,
    max_attempts: int,
    now: datetime | None = None,
    dead_worker: str | None = None,
) -> Claim | None:
    """Make the job this worker's, if it is queued, or running with a heartbeat older
    than ``heartbeat_timeout_s`` (its worker is gone) or held by ``dead_worker`` (a
    worker known gone: a group mate's claim took its run over), and has attempts left.

    Returns None when there is nothing to run: the job is unknown, finished, cancelled, or
    running with a live heartbeat elsewhere. A job that is due but has used its
    ``max_attempts`` is marked failed with the reason.
    """
    now = now or utc_now()
    stale_before = now - timedelta(seconds=heartbeat_timeout_s)
    due = (ExperimentRow.id == experiment_id, _claimable(stale_before, dead_worker))
    before = session.execute(
        select(ExperimentRow.status, ExperimentRow.worker).where(ExperimentRow.id == experiment_id)
    ).one_or_none()
    lease_id = str(uuid.uuid4())
    claimed = transition(
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
        transition(
            session,
            *due,
            ExperimentRow.cancel_requested.is_(True),
            status=ExperimentStatus.CANCELLED,
            finished_at=now,
        )
        transition(
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
    taken_from = before.worker if before and before.status == ExperimentStatus.RUNNING else None
    return Claim(
        experiment_id=experiment_id,
        lease_id=lease_id,
        attempt=row.attempts,
        spec=row.spec,
        taken_from=taken_from,
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
    held = transition(session, *_leased(experiment_id, lease_id), **values)
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
    return transition(
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
    stop_reason: str | None


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
    stop_reason: str | None = None,
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
        "stop_reason": stop_reason,
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
    return transition(session, *_leased(experiment_id, lease_id), **values)


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
