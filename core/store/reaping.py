"""The reaper's store side: running jobs whose worker vanished (heartbeat too old, or
another job of the same worker's with a heartbeat too old) are requeued, failed once out
of attempts, or marked cancelled if a cancel was asked; queued jobs of a queue no worker
has consumed for ``ADAMLAB_NO_WORKER_TIMEOUT_S`` are failed. Each change is a
compare-and-set (``core.store.transition``), so several API processes may each run a reaper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.store.models import ExperimentRow, ExperimentStatus, utc_now
from core.store.session import serialized_on_sqlite
from core.store.transition import transition


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
    columns = (
        ExperimentRow.id,
        ExperimentRow.queue,
        ExperimentRow.lease_id,
        ExperimentRow.attempts,
        ExperimentRow.cancel_requested,
        ExperimentRow.worker,
    )
    running = ExperimentRow.status == ExperimentStatus.RUNNING
    lost = list(
        session.execute(
            select(*columns).where(running, ExperimentRow.heartbeat_at < stale_before)
        ).all()
    )
    # A worker with one stale job is gone with all its jobs (the members of a group it
    # trained beat from the same process): they are lost too, so the group is requeued
    # whole and its next claim takes every member together.
    gone = {job.worker for job in lost if job.worker is not None}
    seen = {job.id for job in lost}
    if gone:
        lost += [
            job
            for job in session.execute(
                select(*columns).where(running, ExperimentRow.worker.in_(gone))
            )
            if job.id not in seen
        ]
    session.commit()
    report = ReapReport()
    for job in lost:
        went_quiet = ExperimentRow.heartbeat_at < stale_before
        still_lost = (
            ExperimentRow.id == job.id,
            running,
            ExperimentRow.lease_id == job.lease_id,
            or_(went_quiet, ExperimentRow.worker == job.worker) if job.worker else went_quiet,
        )
        if job.cancel_requested:  # asked to stop, then its worker vanished: done
            if transition(session, *still_lost, status=ExperimentStatus.CANCELLED, finished_at=now):
                report.cancelled.append(job.id)
        elif job.attempts >= max_attempts:
            if transition(
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
            if transition(
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
