"""An experiment's final weights, as the safetensors file its worker wrote when the run
succeeded (``worker/export.py``), with the spec in the file's metadata."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

from api.auth import KeyedRoute
from api.deps import OwnedExperiment, SessionDep
from api.schemas import ErrorPublic
from core.settings import settings
from core.store.checkpoints import FINAL_WEIGHTS_SUFFIX, final_weights_file
from core.store.models import ExperimentStatus

router = APIRouter(prefix="/v1/experiments", tags=["weights"], route_class=KeyedRoute)


def download_name(name: str, experiment_id: str) -> str:
    """``<name>-<id start>.safetensors``, the name reduced to characters safe anywhere."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"
    return f"{slug[:80]}-{experiment_id[:8]}{FINAL_WEIGHTS_SUFFIX}"


@router.get(
    # The path keeps its first name: the file served is the final weights, not a
    # checkpoint for resuming.
    "/{experiment_id}/checkpoint",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The final weights as a safetensors file (a cancelled run's: "
            "its newest checkpoint's, metadata 'complete' false); its metadata holds the "
            "spec (JSON, key 'spec'), the epoch, the step and the final metrics.",
        },
        404: {
            "model": ErrorPublic,
            "description": "No such experiment, or it has no weights to give (queued, "
            "running, failed, or cancelled before its first epoch ended).",
        },
    },
)
def download_final_weights(experiment: OwnedExperiment, session: SessionDep) -> FileResponse:
    """The final weights of a succeeded experiment (or a cancelled one's newest
    checkpoint's): a safetensors file, one tensor per entry of the model's
    ``state_dict()``, loadable into the engine's model built from the spec in its
    metadata."""
    experiment_id = experiment.id
    if experiment.status not in (ExperimentStatus.SUCCEEDED, ExperimentStatus.CANCELLED):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"Experiment {experiment_id} has no final weights: it is {experiment.status}; "
            "they are saved when a run succeeds or is cancelled.",
        )
    path = final_weights_file(
        session=session, experiment_id=experiment_id, folder=settings.checkpoint_dir(experiment_id)
    )
    if path is not None:
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=download_name(experiment.name, experiment_id),
        )
    if experiment.status == ExperimentStatus.CANCELLED:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"Experiment {experiment_id} was cancelled before its first epoch ended: no "
            "weights were saved.",
        )
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"Experiment {experiment_id} succeeded but its final weights file is not on the "
        "server's disk (written by a version without export, or removed).",
    )
