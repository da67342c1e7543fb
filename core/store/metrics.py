"""Store functions for metric points: batched upserts, curves (optionally downsampled),
and the raw history with cursor paging."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.store.models import MetricPoint
from core.store.session import serialized_on_sqlite

UPSERT_CHUNK_ROWS = 1000
"""Rows per INSERT statement: 4 bound values each stays far below SQLite's variable limit."""


@dataclass(frozen=True, slots=True)
class PointRow:
    """A stored point; ``value`` is None where the measured value was not finite."""

    name: str
    step: int
    epoch: int
    value: float | None


@serialized_on_sqlite
def upsert_metric_points(
    *, session: Session, experiment_id: str, points: Iterable[PointRow]
) -> int:
    """Insert the points, replacing any with the same (experiment, name, step); one
    statement per ``UPSERT_CHUNK_ROWS`` rows. Returns how many were written."""
    dialect = session.get_bind().dialect.name
    # PostgreSQL keeps NaN and ±inf; SQLite turns NaN into NULL and would hand back ±inf,
    # which JSON cannot carry, so non-finite values are stored as NULL there.
    keeps_non_finite = dialect == "postgresql"
    rows = {}
    for point in points:
        value = point.value
        if value is not None and not math.isfinite(value) and not keeps_non_finite:
            value = None
        # The last write of a (name, step) in a batch wins, as it would across batches.
        rows[(point.name, point.step)] = {
            "experiment_id": experiment_id,
            "name": point.name,
            "step": point.step,
            "epoch": point.epoch,
            "value": value,
        }
    values = list(rows.values())
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(values), UPSERT_CHUNK_ROWS):
        statement = insert(MetricPoint).values(values[start : start + UPSERT_CHUNK_ROWS])
        statement = statement.on_conflict_do_update(
            index_elements=[MetricPoint.experiment_id, MetricPoint.name, MetricPoint.step],
            set_={"epoch": statement.excluded.epoch, "value": statement.excluded.value},
        )
        session.execute(statement)
    session.commit()
    return len(values)


def metric_names(*, session: Session, experiment_id: str) -> list[str]:
    return list(
        session.scalars(
            select(MetricPoint.name)
            .where(MetricPoint.experiment_id == experiment_id)
            .distinct()
            .order_by(MetricPoint.name)
        )
    )


@dataclass(frozen=True, slots=True)
class Curve:
    """One metric's points as parallel lists, ordered by step; a value is None where the
    measured value was not finite."""

    steps: list[int]
    epochs: list[int]
    values: list[float | None]

    def __len__(self) -> int:
        return len(self.steps)

    def take(self, indices: Sequence[int]) -> Curve:
        return Curve(
            steps=[self.steps[i] for i in indices],
            epochs=[self.epochs[i] for i in indices],
            values=[self.values[i] for i in indices],
        )


def read_curve(
    *,
    session: Session,
    experiment_id: str,
    name: str,
    step_min: int | None = None,
    step_max: int | None = None,
    limit: int | None = None,
) -> Curve:
    """The points of one metric, by step, within [step_min, step_max]; at most ``limit``."""
    query = (
        select(MetricPoint.step, MetricPoint.epoch, MetricPoint.value)
        .where(MetricPoint.experiment_id == experiment_id, MetricPoint.name == name)
        .order_by(MetricPoint.step)
    )
    if step_min is not None:
        query = query.where(MetricPoint.step >= step_min)
    if step_max is not None:
        query = query.where(MetricPoint.step <= step_max)
    if limit is not None:
        query = query.limit(limit)
    # Core rows and plain lists: a 10,000-point curve is read many times while it grows,
    # and ORM rows or one object per point would cost most of the request.
    rows = session.connection().execute(query).all()
    values = [row[2] for row in rows]
    if session.get_bind().dialect.name == "postgresql":  # the only one storing NaN, ±inf
        values = [_finite_or_none(value) for value in values]
    return Curve(steps=[row[0] for row in rows], epochs=[row[1] for row in rows], values=values)


def read_history(
    *,
    session: Session,
    experiment_id: str,
    names: Sequence[str] = (),
    step_min: int | None = None,
    step_max: int | None = None,
    after: tuple[int, str] | None = None,
    limit: int = 1000,
) -> list[PointRow]:
    """Raw points ordered by (step, name), strictly after ``after`` = (step, name): the
    keyset a cursor carries, so a page never repeats or skips a point."""
    query = select(MetricPoint.name, MetricPoint.step, MetricPoint.epoch, MetricPoint.value).where(
        MetricPoint.experiment_id == experiment_id
    )
    if names:
        query = query.where(MetricPoint.name.in_(list(names)))
    if step_min is not None:
        query = query.where(MetricPoint.step >= step_min)
    if step_max is not None:
        query = query.where(MetricPoint.step <= step_max)
    if after is not None:
        after_step, after_name = after
        query = query.where(
            or_(
                MetricPoint.step > after_step,
                and_(MetricPoint.step == after_step, MetricPoint.name > after_name),
            )
        )
    query = query.order_by(MetricPoint.step, MetricPoint.name).limit(limit)
    return [
        PointRow(name=name, step=step, epoch=epoch, value=_finite_or_none(value))
        for name, step, epoch, value in session.execute(query)
    ]


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def downsample(curve: Curve, *, max_points: int) -> Curve:
    """At most ``max_points`` of the curve's points, chosen to keep its shape.

    The points are cut into ``B = max(1, max_points // 4)`` buckets of consecutive
    points, sizes differing by at most one; each bucket keeps its first, last, minimum and
    maximum point (fewer where they coincide), in step order. So every spike survives,
    both ends of the range are exact, and a curve of at most ``max_points`` points comes
    back whole. Below 4 points the one bucket keeps what fits, in the order last, first,
    maximum, minimum (``max_points=1`` is the latest value). Non-finite (None) values
    are never a bucket's minimum or maximum.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    total = len(curve)
    if total <= max_points:
        return curve
    buckets = max(1, max_points // 4)
    values = curve.values
    kept: list[int] = []
    for bucket in range(buckets):
        start = bucket * total // buckets
        stop = (bucket + 1) * total // buckets
        chosen = [stop - 1, start]
        finite = [(values[i], i) for i in range(start, stop) if values[i] is not None]
        if finite:
            chosen += [max(finite)[1], min(finite)[1]]
        kept += sorted(list(dict.fromkeys(chosen))[: min(4, max_points)])
    return curve.take(kept)
