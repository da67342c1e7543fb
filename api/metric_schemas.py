"""What the metric routes write: a run's curves as parallel arrays (steps, values, epochs;
a 10,000-point curve is three JSON arrays, not 10,000 objects), its points a page at a time,
and its curves in buckets of equal step width for the dashboard."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Status


class CurvePublic(BaseModel):
    name: str
    steps: list[int]
    values: list[float | None] = Field(description="null where the value was not finite.")
    epochs: list[int]
    total_points: int = Field(description="Points in the step range before downsampling.")
    downsampled: bool


class MetricsPublic(BaseModel):
    experiment_id: str
    status: Status
    curves: dict[str, CurvePublic]


class MetricPointPublic(BaseModel):
    name: str
    step: int
    epoch: int
    value: float | None


class MetricHistoryPublic(BaseModel):
    experiment_id: str
    data: list[MetricPointPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class CurveBucketsPublic(BaseModel):
    """One curve in buckets of equal step width (``core.store.metric_buckets``): parallel
    lists, one entry per bucket that holds points, in step order."""

    name: str
    step_first: list[int]
    step_last: list[int]
    epoch: list[int] = Field(description="The epoch of each bucket's last point.")
    min: list[float | None]
    max: list[float | None]
    mean: list[float | None]
    count: list[int] = Field(description="Points in each bucket (non-finite ones too).")
    total_points: int
    width: int = Field(description="Steps per bucket; 0 when the range holds no point.")


class MetricBucketsPublic(BaseModel):
    experiment_id: str
    status: Status
    curves: dict[str, CurveBucketsPublic]
    events_from: str | None = Field(
        default=None,
        description="A position for /events (its last_event_id) that starts the stream "
        "right after these buckets' points, so a page that drew them is sent only newer "
        "points; given for a read of every metric over the whole range.",
    )
