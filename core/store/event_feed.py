"""The store's writes announced as live events (``core.events``), after they commit: an
experiment's status, its progress, its metric points, a sweep's status. A member's events
go to its sweep's channel too; which sweep an experiment belongs to is asked of the store
once per process and experiment (a membership is written with its experiment and never
changes). Publishing never fails the write: ``core.events.publish`` logs and goes on."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.events import (
    deleted_event,
    points_event,
    progress_event,
    publish,
    status_event,
    sweep_status_event,
)
from core.metrics import MetricPoint, Progress
from core.settings import settings
from core.store.models import SweepMemberRow

_MEMBERSHIP_CACHE_SIZE = 10_000
_membership: dict[str, str | None] = {}
_membership_lock = threading.Lock()


def sweeps_of(session: Session, experiment_ids: Iterable[str]) -> dict[str, str | None]:
    """The sweep of each experiment (None: not a member), from this process's memory where
    it has asked before."""
    wanted = list(dict.fromkeys(experiment_ids))
    with _membership_lock:
        known = {eid: _membership[eid] for eid in wanted if eid in _membership}
    missing = [eid for eid in wanted if eid not in known]
    if missing:
        rows = session.execute(
            select(SweepMemberRow.experiment_id, SweepMemberRow.sweep_id).where(
                SweepMemberRow.experiment_id.in_(missing)
            )
        ).all()
        session.commit()  # ends the read's transaction: the caller's writes are done
        found: dict[str, str | None] = {eid: None for eid in missing}
        found.update({eid: sid for eid, sid in rows})
        with _membership_lock:
            if len(_membership) + len(found) > _MEMBERSHIP_CACHE_SIZE:
                _membership.clear()
            _membership.update(found)
        known |= found
    return known


def _announcing() -> bool:
    return settings.redis_url is not None


def announce_statuses(session: Session, changes: Sequence[tuple[str, str]]) -> None:
    """Publish each (experiment id, new status) written and committed."""
    if not changes or not _announcing():
        return
    try:
        sweeps = sweeps_of(session, (eid for eid, _ in changes))
    except SQLAlchemyError:
        session.rollback()
        sweeps = {}
    publish(*(status_event(eid, status, sweep_id=sweeps.get(eid)) for eid, status in changes))


def announce_progress(session: Session, experiment_id: str, progress: Progress) -> None:
    """Publish a running experiment's progress, written and committed."""
    if progress.step is None or not _announcing():
        return
    try:
        sweep_id = sweeps_of(session, [experiment_id])[experiment_id]
    except SQLAlchemyError:
        session.rollback()
        sweep_id = None
    publish(progress_event(experiment_id, progress, sweep_id=sweep_id))


def announce_points(session: Session, experiment_id: str, points: Sequence[MetricPoint]) -> None:
    """Publish metric points written and committed."""
    if not points or not _announcing():
        return
    try:
        sweep_id = sweeps_of(session, [experiment_id])[experiment_id]
    except SQLAlchemyError:
        session.rollback()
        sweep_id = None
    publish(points_event(experiment_id, points, sweep_id=sweep_id))


def announce_sweep_status(sweep_id: str, status: str) -> None:
    """Publish a sweep's new status, written and committed."""
    if _announcing():
        publish(sweep_status_event(sweep_id, status))


def announce_deleted(*, experiment_id: str | None = None, sweep_id: str | None = None) -> None:
    """Publish that an experiment or a sweep was deleted (committed): its streams close."""
    if _announcing():
        publish(deleted_event(experiment_id=experiment_id, sweep_id=sweep_id))
