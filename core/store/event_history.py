"""What an event stream reads of the store, once per connection: where an experiment (or
each member of a sweep) stands, its metrics' names, and the points above a client's
position, a metric at a time, by page.
Everything after that comes live (``core.events``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.metrics import MetricPoint, Progress, finite_or_none
from core.store.models import ExperimentRow, MetricPointRow, SweepMemberRow, SweepRow


@dataclass(frozen=True, slots=True)
class ExperimentState:
    experiment_id: str
    status: str
    progress: Progress
    sweep_id: str | None


def _state(row: ExperimentRow, sweep_id: str | None) -> ExperimentState:
    return ExperimentState(
        experiment_id=row.id,
        sweep_id=sweep_id,
        status=row.status,
        progress=Progress(
            epoch=row.epoch,
            epochs=row.epochs,
            step=row.step,
            total_steps=row.total_steps,
            fraction=row.fraction,
            eta_s=row.eta_s,
            device=row.device,
        ),
    )


def experiment_state(*, session: Session, experiment_id: str) -> ExperimentState | None:
    row = session.get(ExperimentRow, experiment_id)
    if row is None:
        return None
    member = session.get(SweepMemberRow, experiment_id)
    return _state(row, None if member is None else member.sweep_id)


@dataclass(frozen=True, slots=True)
class SweepState:
    status: str
    members: list[ExperimentState]
    """In ordinal order: by creation, then id."""


def sweep_state(*, session: Session, sweep_id: str) -> SweepState | None:
    sweep = session.get(SweepRow, sweep_id)
    if sweep is None:
        return None
    rows = session.scalars(
        select(ExperimentRow)
        .join(SweepMemberRow, SweepMemberRow.experiment_id == ExperimentRow.id)
        .where(SweepMemberRow.sweep_id == sweep_id)
        .order_by(ExperimentRow.created_at, ExperimentRow.id)
    ).all()
    return SweepState(status=sweep.status, members=[_state(row, sweep_id) for row in rows])


def points_above(
    *,
    session: Session,
    experiment_id: str,
    name: str,
    above_step: int,
    limit: int = 1000,
) -> list[MetricPoint]:
    """At most ``limit`` points of one metric with a step above ``above_step``, by step:
    one range of the (experiment, name, step) key, so a long history is read page by page
    at the same cost per page."""
    query = (
        select(MetricPointRow.step, MetricPointRow.epoch, MetricPointRow.value)
        .where(
            MetricPointRow.experiment_id == experiment_id,
            MetricPointRow.name == name,
            MetricPointRow.step > above_step,
        )
        .order_by(MetricPointRow.step)
        .limit(limit)
    )
    return [
        MetricPoint(name=name, step=step, value=finite_or_none(value), epoch=epoch)
        for step, epoch, value in session.execute(query)
    ]
