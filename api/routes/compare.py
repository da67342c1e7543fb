"""Several experiments side by side: a summary of their final metrics (JSON) and their
curves of one or more metrics overlaid (``compare.png``, ``compare.svg``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.auth import KeyedRoute
from api.deps import (
    NOT_FOUND,
    CurrentTenant,
    SessionDep,
    experiment_not_found,
    find_owned_experiment,
)
from api.errors import invalid_parameter
from api.params import CompareIds, CompareMetrics
from api.representations import IMAGE_RESPONSES, Smoothing, image_response
from api.schemas import ComparisonPublic
from core.compare import MAX_COMPARED, compare
from core.figure_style import XAxis
from core.metrics import METRICS
from core.plots.chart import Chart
from core.plots.comparison import ComparedRun, Pace, comparison_panels
from core.plots.drawing import ImageFormat, render
from core.store.models import ExperimentRow
from core.store.plot_series import plot_series

router = APIRouter(prefix="/v1", tags=["compare"], route_class=KeyedRoute)


def parse_ids(ids: list[str]) -> list[str]:
    """The ids of ``ids=a,b&ids=c``, in order, each once; a 422 naming ``ids`` when there
    are none or too many."""
    parsed = list(dict.fromkeys(part.strip() for item in ids for part in item.split(",")))
    parsed = [item for item in parsed if item]
    problem = None
    if not parsed:
        problem = "give at least one experiment id (ids=a,b,...)"
    elif len(parsed) > MAX_COMPARED:
        problem = f"at most {MAX_COMPARED} experiments can be compared (got {len(parsed)})"
    if problem is not None:
        raise invalid_parameter("ids", problem, value=ids)
    return parsed


def parse_metrics(metrics: list[str]) -> list[str]:
    """The metric names, each once; a 422 naming ``metric`` for one the engine never
    writes."""
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "metric"),
                    "msg": f"unknown metric {name!r}; one of {', '.join(METRICS)}",
                    "type": "value_error",
                    "input": name,
                }
                for name in unknown
            ]
        )
    return list(dict.fromkeys(metrics))


def experiments_of(session: Session, ids: list[str], *, tenant_id: str) -> list[ExperimentRow]:
    """The tenant's experiments in the order of ``ids``; 404 naming the first unknown one
    (another tenant's experiment is unknown)."""
    found = []
    for experiment_id in ids:
        experiment = find_owned_experiment(session, experiment_id, tenant_id=tenant_id)
        if experiment is None:
            raise experiment_not_found(experiment_id)
        found.append(experiment)
    return found


@router.get("/compare", response_model=ComparisonPublic, responses=NOT_FOUND)
def compare_experiments(
    ids: CompareIds, session: SessionDep, tenant: CurrentTenant
) -> ComparisonPublic:
    """Each experiment's id, name, status, spec essentials and final metrics, and a
    summary table of the final metrics with the best run of each."""
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    return ComparisonPublic.model_validate(compare(experiments), from_attributes=True)


def compared_run(
    session: Session, experiment: ExperimentRow, metrics: list[str], smoothing: float
) -> ComparedRun:
    """One experiment's curves of ``metrics`` for a comparison figure, with its optimizer,
    learning rate and pace (iterations per epoch, examples per iteration) from its spec,
    and, with ``smoothing``, the EMA of its per-iteration measurements."""
    spec = experiment.spec
    series = plot_series(
        session=session, experiment_id=experiment.id, names=metrics, smoothing=smoothing
    )
    return ComparedRun(
        label=f"{experiment.name} ({experiment.id[:8]})",
        curves=series.curves,
        optimizer=spec["optimizer"]["name"],
        lr=spec["optimizer"].get("lr"),
        pace=Pace.of_spec(spec),
        smoothed=series.smoothed,
    )


@router.get(
    "/compare.{image_format}",
    response_class=Response,
    responses={**NOT_FOUND, **IMAGE_RESPONSES},
)
def plot_comparison(
    ids: CompareIds,
    image_format: ImageFormat,
    session: SessionDep,
    tenant: CurrentTenant,
    metric: CompareMetrics = ["test_acc"],  # noqa: B006 (FastAPI copies defaults)
    x: Annotated[
        XAxis | None,
        Query(
            description="The x axis of every panel: iteration, epoch (per-iteration "
            "metrics at fractions of an epoch) or examples (training examples seen). "
            "Default: epoch when the runs' batch sizes differ, else each metric's own "
            "(iteration for batch_loss and lr, epoch for the others)."
        ),
    ] = None,
    smoothing: Smoothing = 0.0,
) -> Response:
    """The runs' curves of ``metric`` overlaid, one line per run in its optimizer's line
    (legend: its name, the start of its id, optimizer and lr), one panel per metric: the
    study's figures (Adam vs AdaMax, dropout vs none, LR vs MLP vs CNN) for any runs. A
    run without points has no line; 409 when no run has a point of any ``metric``."""
    metrics = parse_metrics(metric)
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    runs = [compared_run(session, experiment, metrics, smoothing) for experiment in experiments]
    panels = comparison_panels(runs, metrics, x=x, smoothing=smoothing)
    if not any(panel.curves for panel in panels):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"None of the experiments has points of {', '.join(metrics)} yet; "
            "there is nothing to draw.",
        )
    title = f"{len(runs)} experiment{'s' if len(runs) != 1 else ''}: " + ", ".join(
        METRICS[name].label for name in metrics
    )
    chart = Chart(panels, title=title, columns=min(len(panels), 2), shared_legend=True)
    return image_response(render(chart, image_format=image_format), image_format)
