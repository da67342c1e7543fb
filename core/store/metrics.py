"""Store functions for metric points: batched upserts, curves (optionally downsampled),
and the raw history with cursor paging. Points and curves are ``core.metrics``'
``MetricPoint`` and ``MetricSeries``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.metrics import MetricPoint, MetricSeries, finite_or_none
from core.store.manage import experiment_exists
from core.store.models import MetricPointRow
from core.store.paging import InvalidCursorError, decode_cursor, encode_cursor
from core.store.session import serialized_on_sqlite

POSTGRESQL_CHUNK_ROWS = 1000
"""Rows per INSERT statement on PostgreSQL (4 bound values each, far below its limit)."""


def _upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (experiment, name, step) DO UPDATE of epoch and value."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(MetricPointRow)
    return statement.on_conflict_do_update(
        index_elements=[MetricPointRow.experiment_id, MetricPointRow.name, MetricPointRow.step],
        set_={"epoch": statement.excluded.epoch, "value": statement.excluded.value},
    )


@serialized_on_sqlite
def upsert_metric_points(
    *, session: Session, experiment_id: str, points: Iterable[MetricPoint]
) -> int:
    """Insert the points, replacing any with the same (experiment, name, step), by one
    statement executed for all rows (the driver sends them in batches). Returns how many
    were written: 0 when the experiment has been deleted (its worker's last points are
    dropped, never stored without it; their foreign key refuses them)."""
    dialect = session.get_bind().dialect.name
    # PostgreSQL keeps NaN and ±inf; SQLite turns NaN into NULL and would hand back ±inf,
    # which JSON cannot carry, so non-finite values are stored as NULL there.
    keeps_non_finite = dialect == "postgresql"
    rows: dict[tuple[str, int], dict[str, object]] = {}
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
    try:
        if values and dialect == "sqlite":
            # One statement executed for many rows: compiled once and cached (a VALUES
            # list of n rows compiles anew for each n, five times the cost of the write).
            session.connection().execute(_upsert_statement(dialect), values)
        elif values:
            # PostgreSQL: one VALUES list per statement (psycopg runs an executemany in a
            # pipeline, which logs an error of its own when the experiment was deleted).
            for start in range(0, len(values), POSTGRESQL_CHUNK_ROWS):
                chunk = values[start : start + POSTGRESQL_CHUNK_ROWS]
                session.execute(_upsert_statement(dialect).values(chunk))
        session.commit()
    except IntegrityError:
        session.rollback()
        if experiment_exists(session=session, experiment_id=experiment_id):
            raise
        return 0
    return len(values)


def metric_names(*, session: Session, experiment_id: str) -> list[str]:
    return list(
        session.scalars(
            select(MetricPointRow.name)
            .where(MetricPointRow.experiment_id == experiment_id)
            .distinct()
            .order_by(MetricPointRow.name)
        )
    )


def read_curve(
    *,
    session: Session,
    experiment_id: str,
    name: str,
    step_min: int | None = None,
    step_max: int | None = None,
    limit: int | None = None,
) -> MetricSeries:
    """The points of one metric, by step, within [step_min, step_max]; at most ``limit``."""
    query = (
        select(MetricPointRow.step, MetricPointRow.epoch, MetricPointRow.value)
        .where(MetricPointRow.experiment_id == experiment_id, MetricPointRow.name == name)
        .order_by(MetricPointRow.step)
    )
    if step_min is not None:
        query = query.where(MetricPointRow.step >= step_min)
    if step_max is not None:
        query = query.where(MetricPointRow.step <= step_max)
    if limit is not None:
        query = query.limit(limit)
    # Core rows and plain lists: a 10,000-point curve is read many times while it grows,
    # and ORM rows or one object per point would cost most of the request.
    rows = session.connection().execute(query).all()
    values = [row[2] for row in rows]
    if session.get_bind().dialect.name == "postgresql":  # the only one storing NaN, ±inf
        values = [finite_or_none(value) for value in values]
    return MetricSeries(
        steps=[row[0] for row in rows], epochs=[row[1] for row in rows], values=values
    )


class CurveTooLongError(ValueError):
    """A curve with more points in the asked range than may be sent whole."""

    def __init__(self, *, name: str, limit: int) -> None:
        super().__init__(
            f"curve {name!r} has more than {limit} points in this range: pass max_points to "
            "downsample, narrow step_min/step_max, or page through /metrics/history"
        )


@dataclass(frozen=True, slots=True)
class CurveRead:
    """One curve as a client gets it: ``series`` (downsampled or whole) and how many
    points the range held before downsampling."""

    series: MetricSeries
    total_points: int


def read_metric_curves(
    *,
    session: Session,
    experiment_id: str,
    names: Sequence[str],
    step_min: int | None,
    step_max: int | None,
    max_points: int | None,
    whole_limit: int,
) -> dict[str, CurveRead]:
    """The curves of ``names`` (all the experiment's metrics when empty), each once, in
    [step_min, step_max]: downsampled to ``max_points``, or with ``max_points`` None sent
    whole, which a curve of more than ``whole_limit`` points refuses with
    ``CurveTooLongError``."""
    curves: dict[str, CurveRead] = {}
    for name in dict.fromkeys(names or metric_names(session=session, experiment_id=experiment_id)):
        curve = read_curve(
            session=session,
            experiment_id=experiment_id,
            name=name,
            step_min=step_min,
            step_max=step_max,
            limit=None if max_points else whole_limit + 1,
        )
        if max_points is None and len(curve) > whole_limit:
            raise CurveTooLongError(name=name, limit=whole_limit)
        kept = downsample(curve, max_points=max_points) if max_points else curve
        curves[name] = CurveRead(series=kept, total_points=len(curve))
    return curves


def read_history(
    *,
    session: Session,
    experiment_id: str,
    names: Sequence[str] = (),
    step_min: int | None = None,
    step_max: int | None = None,
    after: tuple[int, str] | None = None,
    limit: int = 1000,
) -> list[MetricPoint]:
    """Raw points ordered by (step, name), strictly after ``after`` = (step, name): the
    keyset a cursor carries, so a page never repeats or skips a point."""
    query = select(
        MetricPointRow.name, MetricPointRow.step, MetricPointRow.epoch, MetricPointRow.value
    ).where(MetricPointRow.experiment_id == experiment_id)
    if names:
        query = query.where(MetricPointRow.name.in_(list(names)))
    if step_min is not None:
        query = query.where(MetricPointRow.step >= step_min)
    if step_max is not None:
        query = query.where(MetricPointRow.step <= step_max)
    if after is not None:
        after_step, after_name = after
        query = query.where(
            or_(
                MetricPointRow.step > after_step,
                and_(MetricPointRow.step == after_step, MetricPointRow.name > after_name),
            )
        )
    query = query.order_by(MetricPointRow.step, MetricPointRow.name).limit(limit)
    return [
        MetricPoint(name=name, step=step, value=finite_or_none(value), epoch=epoch)
        for name, step, epoch, value in session.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    data: list[MetricPoint]
    next_cursor: str | None
    """The cursor of the next page; None on the last one."""


HISTORY_CURSOR_MESSAGE = "cursor is not one this endpoint returned; start again without it"


def history_page(points: list[MetricPoint], *, limit: int) -> HistoryPage:
    """The page of ``points`` read with ``limit + 1`` (``read_history``): the first
    ``limit``, and the cursor of the next page when there were more."""
    if len(points) <= limit:
        return HistoryPage(data=points, next_cursor=None)
    last = points[limit - 1]
    return HistoryPage(data=points[:limit], next_cursor=encode_cursor([last.step, last.name]))


def decode_history_cursor(cursor: str) -> tuple[int, str]:
    """The ``after`` keyset of ``read_history`` that a page's ``next_cursor`` carries;
    ``InvalidCursorError`` for a cursor that no page returned."""
    keyset = decode_cursor(cursor, message=HISTORY_CURSOR_MESSAGE)
    if not isinstance(keyset, list) or len(keyset) != 2:
        raise InvalidCursorError(HISTORY_CURSOR_MESSAGE)
    step, name = keyset
    # The codec keeps integers within BIGINT_MAX; a step is never negative (nor a bool).
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidCursorError(HISTORY_CURSOR_MESSAGE)
    if not isinstance(name, str):
        raise InvalidCursorError(HISTORY_CURSOR_MESSAGE)
    return step, name


def downsample(curve: MetricSeries, *, max_points: int) -> MetricSeries:
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
