"""Several experiments side by side: a summary of their final metrics (JSON) and their
curves of one or more metrics overlaid (``compare.png``, ``compare.svg``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.auth import KeyedRoute
from api.deps import NOT_FOUND, CurrentTenant, SessionDep, experiment_not_found
from api.representations import IMAGE_RESPONSES, image_response
from api.schemas import ComparisonPublic
from core.compare import MAX_COMPARED, compare
from core.metrics import METRICS
from core.plots import ImageFormat, comparison_panels, render_panels
from core.store.experiments import get_experiment
from core.store.models import ExperimentRow
from core.store.plot_series import plot_series

router = APIRouter(prefix="/v1", tags=["compare"], route_class=KeyedRoute)

Ids = Annotated[
    list[str],
    Query(
        description="Experiment ids, comma-separated (ids=a,b,c) or repeated (ids=a&ids=b); "
        f"1 to {MAX_COMPARED}.",
    ),
]


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
        raise RequestValidationError(
            [{"loc": ("query", "ids"), "msg": problem, "type": "value_error", "input": ids}]
        )
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
        experiment = get_experiment(
            session=session, experiment_id=experiment_id, tenant_id=tenant_id
        )
        if experiment is None:
            raise experiment_not_found(experiment_id)
        found.append(experiment)
    return found


@router.get("/compare", response_model=ComparisonPublic, responses=NOT_FOUND)
def compare_experiments(ids: Ids, session: SessionDep, tenant: CurrentTenant) -> ComparisonPublic:
    """Each experiment's id, name, status, spec essentials and final metrics, and a
    summary table of the final metrics with the best run of each."""
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    return ComparisonPublic.model_validate(compare(experiments), from_attributes=True)


@router.get(
    "/compare.{image_format}",
    response_class=Response,
    responses={**NOT_FOUND, **IMAGE_RESPONSES},
)
def plot_comparison(
    ids: Ids,
    image_format: ImageFormat,
    session: SessionDep,
    tenant: CurrentTenant,
    metric: Annotated[
        list[str],
        Query(
            description="Metric(s) to overlay, one panel each (repeat): "
            f"{', '.join(METRICS)}; default test_acc."
        ),
    ] = ["test_acc"],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """The runs' curves of ``metric`` overlaid, one line per run (labelled with its name
    and the start of its id), one panel per metric: the study's figures (Adam vs AdaMax,
    dropout vs none, LR vs MLP vs CNN) for any runs. A run without points has no line."""
    metrics = parse_metrics(metric)
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    runs = [
        (
            f"{experiment.name} ({experiment.id[:8]})",
            plot_series(session=session, experiment_id=experiment.id, names=metrics),
        )
        for experiment in experiments
    ]
    panels = comparison_panels(runs, metrics)
    title = f"{len(runs)} experiment{'s' if len(runs) != 1 else ''}: " + ", ".join(
        METRICS[name].label for name in metrics
    )
    image = render_panels(
        panels,
        title=title,
        columns=min(len(panels), 2),
        image_format=image_format,
        allow_empty=True,
    )
    return image_response(image, image_format)
