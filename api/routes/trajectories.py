"""The playground's figures: a test problem's trajectories over its contour, f − f* and
the per-coordinate steps (``core/plots/playground.py``), of one experiment
(``/v1/experiments/{id}/trajectory.png``) or of several overlaid
(``/v1/compare/trajectory.png``); PNG, SVG or an animated GIF."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.orm import Session

from api.auth import KeyedRoute
from api.deps import NOT_FOUND, CurrentTenant, OwnedExperiment, SessionDep
from api.errors import invalid_parameter
from api.params import CompareIds
from api.routes.compare import experiments_of, parse_ids
from api.schemas import ErrorPublic
from core.plots.playground import (
    COORDINATES,
    STEPS,
    TRAJECTORY_MEDIA_TYPES,
    Trajectory,
    TrajectoryFormat,
    render_playground,
    run_label,
)
from core.problems import Problem, problem_of, start_of
from core.spec import ExperimentSpec, FunctionDataset, ReddiDataset
from core.store.metrics import read_curve
from core.store.models import ExperimentRow

router = APIRouter(prefix="/v1", tags=["plots"], route_class=KeyedRoute)

TRAJECTORY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media_type: {} for media_type in TRAJECTORY_MEDIA_TYPES.values()},
        "description": "The figure.",
    },
    404: {"model": ErrorPublic, "description": "No such experiment, or not a test problem."},
    409: {"model": ErrorPublic, "description": "No step to draw yet."},
}


def playground_dataset_of(experiment: ExperimentRow) -> FunctionDataset | ReddiDataset | None:
    """The experiment's test problem (its data set), or None for another data set."""
    dataset = ExperimentSpec.model_validate(experiment.spec).dataset
    return dataset if isinstance(dataset, FunctionDataset | ReddiDataset) else None


def problem_key(dataset: FunctionDataset | ReddiDataset) -> tuple[object, ...]:
    """What runs must share to be drawn over one contour: the function and its κ."""
    if isinstance(dataset, ReddiDataset):
        return ("reddi",)
    return ("function", dataset.function, dataset.curvature_ratio)


def trajectory_of(
    session: Session, experiment: ExperimentRow, dataset: FunctionDataset | ReddiDataset
) -> Trajectory:
    """The experiment's trajectory from the store, labelled with its name and optimizer."""
    dimensions = dataset.input_shape[0]
    names = [*COORDINATES[:dimensions], "f", *STEPS[:dimensions]]
    curves = {
        name: read_curve(session=session, experiment_id=experiment.id, name=name) for name in names
    }
    optimizer = experiment.spec["optimizer"]
    return Trajectory.from_curves(
        curves,
        label=f"{run_label(optimizer)} ({experiment.id[:8]})",
        optimizer=optimizer["name"],
        start=start_of(dataset),
    )


def _figure(
    problem: Problem, trajectories: list[Trajectory], image_format: TrajectoryFormat, what: str
) -> Response:
    if not any(trajectory.steps for trajectory in trajectories):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{what} no step yet; nothing to draw.")
    image = render_playground(problem, trajectories, image_format=image_format)
    return Response(
        content=image,
        media_type=TRAJECTORY_MEDIA_TYPES[image_format],
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/experiments/{experiment_id}/trajectory.{image_format}",
    response_class=Response,
    responses=TRAJECTORY_RESPONSES,
)
def plot_trajectory(
    experiment: OwnedExperiment, image_format: TrajectoryFormat, session: SessionDep
) -> Response:
    """A test problem's run (data set ``function`` or ``reddi``): its trajectory over the
    function's contour (a 1-D problem: x against the iteration), f − f* per iteration on
    a log axis and the size of each coordinate's step, |Δx| and |Δy|. The GIF animates
    the trajectory. Drawn while it runs, too; 404 for an experiment of another data set,
    409 while it has no step."""
    dataset = playground_dataset_of(experiment)
    if dataset is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"Experiment {experiment.id} is not a test problem (its data set is "
            f"{experiment.spec['dataset']['name']!r}); it has no trajectory.",
        )
    trajectory = trajectory_of(session, experiment, dataset)
    return _figure(problem_of(dataset), [trajectory], image_format, "The experiment has")


@router.get(
    "/compare/trajectory.{image_format}",
    response_class=Response,
    responses={**NOT_FOUND, **TRAJECTORY_RESPONSES},
)
def compare_trajectories(
    ids: CompareIds, image_format: TrajectoryFormat, session: SessionDep, tenant: CurrentTenant
) -> Response:
    """The trajectories of several runs of one test problem overlaid on its contour, with
    their f − f* and per-coordinate steps, one line per run in its optimizer's line
    (legend: optimizer, lr and the start of the id); e.g. the members of a ``canyon``
    sweep. 422 naming ``ids`` when one is not a test problem or they minimise different
    functions (or κ); 409 when no run has a step yet."""
    experiments = experiments_of(session, parse_ids(ids), tenant_id=tenant.id)
    datasets = []
    for experiment in experiments:
        dataset = playground_dataset_of(experiment)
        if dataset is None:
            raise invalid_parameter("ids", f"experiment {experiment.id} is not a test problem")
        datasets.append(dataset)
    if len({problem_key(dataset) for dataset in datasets}) > 1:
        raise invalid_parameter(
            "ids", "the experiments minimise different test problems; compare runs of one"
        )
    trajectories = [
        trajectory_of(session, experiment, dataset)
        for experiment, dataset in zip(experiments, datasets, strict=True)
    ]
    return _figure(problem_of(datasets[0]), trajectories, image_format, "None of them has")
