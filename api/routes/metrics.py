"""An experiment's metrics: curves (optionally downsampled), the same in min/max buckets
(what the dashboard draws, re-asked for each zoomed range) and the raw history; the
experiment is the request's tenant's (``OwnedExperiment``)."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Response

from api.auth import KeyedRoute
from api.deps import OwnedExperiment, SessionDep
from api.errors import invalid_parameter
from api.event_positions import ExperimentPosition
from api.metric_schemas import (
    CurveBucketsPublic,
    CurvePublic,
    MetricBucketsPublic,
    MetricHistoryPublic,
    MetricPointPublic,
    MetricsPublic,
)
from api.params import Cursor, MetricNames, StepMax, StepMin
from api.representations import CSV_MEDIA_TYPE, points_csv, prefers_csv
from api.schemas import Status
from core.run_environment import RunEnvironment
from core.settings import settings
from core.store.metric_buckets import MAX_BUCKETS, read_curve_buckets
from core.store.metrics import (
    CurveTooLongError,
    decode_history_cursor,
    history_page,
    metric_names,
    read_history,
    read_metric_curves,
)
from core.store.paging import InvalidCursorError

router = APIRouter(
    prefix="/v1/experiments/{experiment_id}/metrics", tags=["metrics"], route_class=KeyedRoute
)


def _check_range(step_min: int | None, step_max: int | None) -> None:
    if step_min is not None and step_max is not None and step_min > step_max:
        raise invalid_parameter(
            "step_min", f"must not be greater than step_max ({step_max})", value=step_min
        )


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        "description": "The curves (JSON), or with 'Accept: text/csv' one line per point: "
        "name,step,epoch,value (an empty value where it was not finite).",
    }
}


@router.get("", response_model=MetricsPublic, responses=CSV_RESPONSE)
def read_curves(
    experiment: OwnedExperiment,
    session: SessionDep,
    names: MetricNames = None,
    step_min: StepMin = None,
    step_max: StepMax = None,
    max_points: Annotated[
        int | None,
        Query(
            ge=1,
            le=100_000,
            description="Downsample each curve to at most this many points: the range is cut "
            "into max_points // 4 buckets, each keeping its first, last, min and max point "
            "(below 4: last, first, max, min, as many as fit; 1 is the latest value).",
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> MetricsPublic | Response:
    """The curves of an experiment by metric name and step range. They grow while it runs
    (points reach the store within about a second of being measured). With
    ``Accept: text/csv``, the same points as CSV (columns name, step, epoch, value)."""
    _check_range(step_min, step_max)
    experiment_id = experiment.id
    try:
        read = read_metric_curves(
            session=session,
            experiment_id=experiment_id,
            names=names or (),
            step_min=step_min,
            step_max=step_max,
            max_points=max_points,
            whole_limit=settings.max_curve_points,
        )
    except CurveTooLongError as exc:
        raise invalid_parameter("max_points", str(exc)) from exc
    curves = {
        name: CurvePublic(
            name=name,
            steps=list(curve.series.steps),
            values=list(curve.series.values),
            epochs=list(curve.series.epochs),
            total_points=curve.total_points,
            downsampled=len(curve.series) < curve.total_points,
        )
        for name, curve in read.items()
    }
    if prefers_csv(accept):
        rows = (
            (name, step, epoch, value)
            for name, curve in curves.items()
            for step, epoch, value in zip(curve.steps, curve.epochs, curve.values, strict=True)
        )
        environment = (
            None
            if experiment.environment is None
            else RunEnvironment.model_validate(experiment.environment)
        )
        return Response(points_csv(rows, environment=environment), media_type=CSV_MEDIA_TYPE)
    return MetricsPublic(
        experiment_id=experiment_id, status=cast(Status, experiment.status), curves=curves
    )


@router.get("/buckets", response_model=MetricBucketsPublic)
def read_curve_buckets_route(
    experiment: OwnedExperiment,
    session: SessionDep,
    names: MetricNames = None,
    step_min: StepMin = None,
    step_max: StepMax = None,
    buckets: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_BUCKETS,
            description="Buckets of equal step width over the range (those holding points "
            "are sent): each its first and last step, min, max, mean and count.",
        ),
    ] = 1000,
) -> MetricBucketsPublic:
    """Each curve's points within [step_min, step_max] summed up in at most ``buckets``
    buckets of equal step width: a line (the means) with a band (min to max) that keeps
    every spike, at any zoom. A bucket of one point is that point."""
    _check_range(step_min, step_max)
    curves: dict[str, CurveBucketsPublic] = {}
    for name in dict.fromkeys(names or metric_names(session=session, experiment_id=experiment.id)):
        read = read_curve_buckets(
            session=session,
            experiment_id=experiment.id,
            name=name,
            buckets=buckets,
            step_min=step_min,
            step_max=step_max,
        )
        curves[name] = CurveBucketsPublic(
            name=name,
            step_first=read.step_first,
            step_last=read.step_last,
            epoch=read.epoch,
            min=read.minimum,
            max=read.maximum,
            mean=read.mean,
            count=read.count,
            total_points=read.total_points,
            width=read.width,
        )
    # Each metric's points are written in step order, so every point of a curve up to its
    # last bucket's last step is in what was just read.
    events_from = None
    if names is None and step_min is None and step_max is None:
        drawn_to = {name: read.step_last[-1] for name, read in curves.items() if read.step_last}
        events_from = ExperimentPosition(points=drawn_to).encode()
    return MetricBucketsPublic(
        experiment_id=experiment.id,
        status=cast(Status, experiment.status),
        curves=curves,
        events_from=events_from,
    )


@router.get("/history", response_model=MetricHistoryPublic)
def read_metric_history(
    experiment: OwnedExperiment,
    session: SessionDep,
    names: MetricNames = None,
    step_min: StepMin = None,
    step_max: StepMax = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> MetricHistoryPublic:
    """Every stored point, ordered by (step, name), a page at a time."""
    _check_range(step_min, step_max)
    try:
        after = decode_history_cursor(cursor) if cursor is not None else None
    except InvalidCursorError as exc:
        raise invalid_parameter("cursor", str(exc), value=cursor) from exc
    points = read_history(
        session=session,
        experiment_id=experiment.id,
        names=names or (),
        step_min=step_min,
        step_max=step_max,
        after=after,
        limit=limit + 1,
    )
    page = history_page(points, limit=limit)
    return MetricHistoryPublic(
        experiment_id=experiment.id,
        data=[
            MetricPointPublic(
                name=point.name, step=point.step, epoch=point.epoch, value=point.value
            )
            for point in page.data
        ],
        next_cursor=page.next_cursor,
    )
