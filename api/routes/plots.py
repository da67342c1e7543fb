"""An experiment's learning curves as a figure: ``plot.png`` and ``plot.svg``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.auth import KeyedRoute
from api.deps import OwnedExperiment, SessionDep
from api.representations import IMAGE_RESPONSES, Smoothing, image_response
from core.plots.drawing import ImageFormat, render
from core.plots.run_chart import run_chart
from core.store.plot_series import plot_series

router = APIRouter(prefix="/v1/experiments", tags=["plots"], route_class=KeyedRoute)


@router.get(
    "/{experiment_id}/plot.{image_format}",
    response_class=Response,
    responses=IMAGE_RESPONSES,
)
def plot_experiment(
    experiment: OwnedExperiment,
    image_format: ImageFormat,
    session: SessionDep,
    smoothing: Smoothing = 0.0,
) -> Response:
    """The run's learning curves: training objective and learning rate per iteration (a
    constant learning rate is a note under the title instead), losses and accuracies per
    epoch (regression: MSE, w and b), in the optimizer's line, titled with the spec's name,
    dataset, model, optimizer, learning rate and epochs, or how far a stopped run got.
    Drawn while it runs, too. 409 while it has no points."""
    experiment_id = experiment.id
    series = plot_series(session=session, experiment_id=experiment_id, smoothing=smoothing)
    chart = run_chart(
        series.curves,
        spec=experiment.spec,
        status=experiment.status,
        smoothing=smoothing,
        smoothed=series.smoothed,
    )
    if not chart.panels:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Experiment {experiment_id} has no metric points yet ({experiment.status}); "
            "there is nothing to draw.",
        )
    return image_response(render(chart, image_format=image_format), image_format)
