"""An experiment's learning curves as a figure: ``plot.png`` and ``plot.svg``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.orm import Session

from api.deps import OwnedExperiment, SessionDep
from api.routes.experiments import NOT_FOUND
from api.schemas import ErrorPublic
from core.plots import (
    MEDIA_TYPES,
    ImageFormat,
    MetricSeries,
    learning_curve_panels,
    render_panels,
    spec_title,
)
from core.store.metrics import downsample, metric_names, read_curve

router = APIRouter(prefix="/v1/experiments", tags=["plots"])

PLOT_MAX_POINTS = 2000
"""Points drawn per curve at most: longer curves are downsampled keeping each bucket's
first, last, minimum and maximum (``core.store.metrics.downsample``), so spikes stay
visible and the cost of a figure does not grow with the run."""

IMAGE_RESPONSES = {
    200: {
        "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
        "description": "The figure.",
    },
    409: {"model": ErrorPublic, "description": "The experiment has no points to draw yet."},
}


def plot_series(
    *, session: Session, experiment_id: str, names: Sequence[str] | None = None
) -> dict[str, MetricSeries]:
    """The experiment's curves by metric name (all, or ``names``), each downsampled to at
    most ``PLOT_MAX_POINTS``; metrics without points are left out."""
    found = {}
    for name in (
        names if names is not None else metric_names(session=session, experiment_id=experiment_id)
    ):
        curve = read_curve(session=session, experiment_id=experiment_id, name=name)
        if len(curve):
            kept = downsample(curve, max_points=PLOT_MAX_POINTS)
            found[name] = MetricSeries(steps=kept.steps, epochs=kept.epochs, values=kept.values)
    return found


def image_response(image: bytes, image_format: ImageFormat) -> Response:
    # Curves grow while a run is under way: a figure is only valid when it is drawn.
    return Response(
        content=image, media_type=MEDIA_TYPES[image_format], headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/{experiment_id}/plot.{image_format}",
    response_class=Response,
    responses={**NOT_FOUND, **IMAGE_RESPONSES},
)
def plot_experiment(
    experiment: OwnedExperiment, image_format: ImageFormat, session: SessionDep
) -> Response:
    """The run's learning curves: training objective and learning rate per iteration,
    losses and accuracies per epoch (regression: MSE, w and b), titled with the spec's
    name, dataset, model, optimizer, learning rate and epochs. Drawn while it runs, too."""
    experiment_id = experiment.id
    panels = learning_curve_panels(plot_series(session=session, experiment_id=experiment_id))
    if not panels:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Experiment {experiment_id} has no metric points yet ({experiment.status}); "
            "there is nothing to draw.",
        )
    image = render_panels(panels, title=spec_title(experiment.spec), image_format=image_format)
    return image_response(image, image_format)
