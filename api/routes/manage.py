"""Run management: delete an experiment, edit its name, tags and note. The same resource
as ``api.routes.experiments`` (``/v1/experiments/{id}``), each request its tenant's."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from api.auth import KeyedRoute
from api.deps import (
    CurrentTenant,
    JsonBody,
    OwnedExperiment,
    SessionDep,
    experiment_not_found,
    get_owned_experiment,
)
from api.routes.experiments import read_experiment
from api.schemas import ExperimentPublic, ExperimentUpdate
from core.run_folder import remove_run_folder
from core.settings import settings
from core.store.manage import UNCHANGED, ExperimentEdit, delete_experiment, edit_experiment

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=KeyedRoute)


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        204: {
            "description": "Deleted, with its metric points, checkpoints, final weights and "
            "log; a running one stops within about a second. Every request about it is a 404 "
            "from now on."
        }
    },
)
def delete_experiment_route(
    experiment: OwnedExperiment, session: SessionDep, tenant: CurrentTenant
) -> Response:
    """Delete the experiment in any status: its row, tags, metric points and index of
    checkpoints in one transaction, then its folder (checkpoints, final weights, log).
    A queued one never starts; a running one's worker finds the row gone at its next
    heartbeat, stops, drops whatever it still had to write and removes anything it wrote
    to the folder meanwhile. Answers 204; a second DELETE, and any request about it, 404."""
    experiment_id = experiment.id
    deleted = delete_experiment(session=session, experiment_id=experiment_id, tenant_id=tenant.id)
    if deleted is None:  # a concurrent DELETE was first
        raise experiment_not_found(experiment_id)
    remove_run_folder(settings.checkpoint_dir(experiment_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{experiment_id}",
    response_model=ExperimentPublic,
    responses={200: {"description": "The experiment as it is now, as GET answers it."}},
    # The experiment first: another tenant's id is the 404 of an unknown one, whatever
    # the body's Content-Type (then 415).
    dependencies=[Depends(get_owned_experiment), JsonBody],
)
def edit_experiment_route(
    body: ExperimentUpdate, experiment: OwnedExperiment, session: SessionDep, tenant: CurrentTenant
) -> ExperimentPublic:
    """Change the name, the tags or the note, in any status, as a JSON merge patch: a field
    sent replaces the experiment's (``tags`` the whole list), one left out stays, ``null``
    removes the note or the tags; ``{}`` changes nothing. Answers the experiment as
    ``GET`` does. Any other field is a 422: the spec itself cannot change."""
    sent = body.model_fields_set
    edit = ExperimentEdit(
        name=body.name if "name" in sent and body.name is not None else UNCHANGED,
        tags=(body.tags or []) if "tags" in sent else UNCHANGED,
        note=body.note if "note" in sent else UNCHANGED,
    )
    experiment_id = experiment.id
    edited = edit_experiment(
        session=session, experiment_id=experiment_id, tenant_id=tenant.id, edit=edit
    )
    if edited is None:  # deleted meanwhile
        raise experiment_not_found(experiment_id)
    return read_experiment(edited, session)
