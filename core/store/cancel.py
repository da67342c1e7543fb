"""Cancelling an experiment: one UPDATE that cancels a queued job at once or asks a
running one to stop (its finish then records cancelled, ``lifecycle.finish_experiment``);
a repeat answers the same while the job is in the same state."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Row, Update, case, literal, select, update
from sqlalchemy.orm import Session

from core.store.event_feed import announce_statuses
from core.store.lifecycle import CANCELLED_ERROR
from core.store.models import (
    ExperimentRow,
    ExperimentStatus,
    SweepMemberRow,
    UtcDateTime,
    utc_now,
)
from core.store.session import serialized_on_sqlite


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


def _cancel_update(*which: ColumnElement[bool], now: datetime | None) -> Update:
    """The UPDATE that cancels the queued jobs among ``which`` and asks the running ones to
    stop (SET expressions read the row as it was: a queued row ends here)."""
    queued = ExperimentRow.status == ExperimentStatus.QUEUED
    return (
        update(ExperimentRow)
        .where(
            *which,
            ExperimentRow.status.in_([ExperimentStatus.QUEUED, ExperimentStatus.RUNNING]),
        )
        .values(
            cancel_requested=True,
            status=case(
                (queued, literal(ExperimentStatus.CANCELLED.value)), else_=ExperimentRow.status
            ),
            finished_at=case(
                (queued, literal(now or utc_now(), UtcDateTime())),
                else_=ExperimentRow.finished_at,
            ),
            error=case((queued, literal(CANCELLED_ERROR)), else_=ExperimentRow.error),
        )
    )


def _announce_cancelled(session: Session, rows: Sequence[Row[str, str]]) -> None:
    """Announce the jobs the cancel ended (a running one ends when its worker stops)."""
    announce_statuses(
        session, [(row.id, row.status) for row in rows if row.status == ExperimentStatus.CANCELLED]
    )


@serialized_on_sqlite
def cancel_sweep_members(*, session: Session, sweep_id: str, now: datetime | None = None) -> int:
    """Cancel every queued member of a sweep and ask every running one to stop, in one
    UPDATE (as ``request_cancel`` does for one job); returns how many it reached."""
    members = select(SweepMemberRow.experiment_id).where(SweepMemberRow.sweep_id == sweep_id)
    reached = session.execute(
        _cancel_update(ExperimentRow.id.in_(members), now=now).returning(
            ExperimentRow.id, ExperimentRow.status
        )
    ).all()
    session.commit()
    _announce_cancelled(session, reached)
    return len(reached)


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
    result = session.execute(
        _cancel_update(*this_one, now=now).returning(ExperimentRow.id, ExperimentRow.status)
    )
    row = result.one_or_none()
    session.commit()
    changed = None if row is None else row.status
    _announce_cancelled(session, [] if row is None else [row])
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
