"""An experiment's learning curves as a figure: ``plot.png`` and ``plot.svg``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.auth import KeyedRoute
from api.deps import OwnedExperiment, SessionDep
from api.representations import IMAGE_RESPONSES, image_response
from core.plots import ImageFormat, learning_curve_panels, render_panels, spec_title
from core.store.plot_series import plot_series

router = APIRouter(prefix="/v1/experiments", tags=["plots"], route_class=KeyedRoute)


@router.get(
    "/{experiment_id}/plot.{image_format}",
    response_class=Response,
    responses=IMAGE_RESPONSES,
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
