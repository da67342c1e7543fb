"""A curve cut into buckets of equal step width, each with its minimum, maximum and mean:
what the dashboard draws as a line with a min/max band, computed by the store (one
``GROUP BY``), so a zoomed range of a 1,000,000-point curve costs one query and a few
hundred rows, however long the run.

For a range ``[lo, hi]`` of steps holding points and ``B`` buckets, bucket ``k`` holds the
points with ``lo + k·w <= step < lo + (k+1)·w``, where ``w = ceil((hi - lo + 1) / B)``;
empty buckets are left out. A bucket of one point has ``min = max = mean`` = its value,
so a curve of at most ``B`` points comes back whole. Non-finite values (NULL on SQLite,
NaN and ±inf on PostgreSQL) are counted in ``count`` but never a minimum, maximum or mean;
a bucket of only such values has None for all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from core.metrics import finite_or_none
from core.store.models import MetricPointRow

MAX_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class CurveBuckets:
    """One curve's buckets as parallel lists, in step order."""

    step_first: list[int]
    step_last: list[int]
    epoch: list[int]
    """The epoch of the bucket's last point."""
    minimum: list[float | None]
    maximum: list[float | None]
    mean: list[float | None]
    count: list[int]
    total_points: int
    """Points in the range (the sum of ``count``)."""
    width: int
    """Steps per bucket (``w``); 0 for an empty range."""


EMPTY = CurveBuckets([], [], [], [], [], [], [], total_points=0, width=0)


def read_curve_buckets(
    *,
    session: Session,
    experiment_id: str,
    name: str,
    buckets: int,
    step_min: int | None = None,
    step_max: int | None = None,
) -> CurveBuckets:
    """The curve ``name`` of the experiment within ``[step_min, step_max]`` in at most
    ``buckets`` buckets (see the module's docstring)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1 to {MAX_BUCKETS}, got {buckets}")
    where = [MetricPointRow.experiment_id == experiment_id, MetricPointRow.name == name]
    if step_min is not None:
        where.append(MetricPointRow.step >= step_min)
    if step_max is not None:
        where.append(MetricPointRow.step <= step_max)
    # Two scalar subqueries, not min and max in one select: each is then one probe of the
    # primary key's index (SQLite scans the whole range for the pair: 14 ms against 0.1 ms
    # for 100,000 points).
    bounds = session.execute(
        select(
            select(func.min(MetricPointRow.step)).where(*where).scalar_subquery(),
            select(func.max(MetricPointRow.step)).where(*where).scalar_subquery(),
        )
    ).one()
    # Both NULL when the range holds no point (the typing says int).
    lo, hi = cast(int | None, bounds[0]), cast(int | None, bounds[1])
    if lo is None or hi is None:
        return EMPTY
    width = max(1, -(-(hi - lo + 1) // buckets))
    value = MetricPointRow.value
    if session.get_bind().dialect.name == "postgresql":
        # NaN sorts above +inf there: both comparisons false for NaN and for ±inf.
        finite = and_(value < float("inf"), value > float("-inf"))
        value = case((finite, value), else_=None)
    bucket = ((MetricPointRow.step - lo) // width).label("bucket")
    query = (
        select(
            bucket,
            func.min(MetricPointRow.step),
            func.max(MetricPointRow.step),
            func.max(MetricPointRow.epoch),
            func.min(value),
            func.max(value),
            func.avg(value),
            func.count(),
        )
        .where(*where)
        .group_by(bucket)
        .order_by(bucket)
    )
    rows = session.connection().execute(query).all()
    return CurveBuckets(
        step_first=[int(row[1]) for row in rows],
        step_last=[int(row[2]) for row in rows],
        epoch=[int(row[3]) for row in rows],
        minimum=[finite_or_none(_float(row[4])) for row in rows],
        maximum=[finite_or_none(_float(row[5])) for row in rows],
        mean=[finite_or_none(_float(row[6])) for row in rows],
        count=[int(row[7]) for row in rows],
        total_points=sum(int(row[7]) for row in rows),
        width=width,
    )


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
