"""An experiment's log: the last lines its workers wrote while running it (the engine's
epoch lines, warnings, failures with their tracebacks), from the file beside its
checkpoints (``core/run_logs.py``). The experiment is the request's tenant's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse

from api.auth import KeyedRoute
from api.deps import OwnedExperiment
from api.schemas import RunLogPublic
from core.run_logs import MAX_TAIL_LINES, read_log_tail
from core.settings import settings

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=KeyedRoute)

PLAIN_TEXT = "text/plain"


@router.get(
    "/{experiment_id}/logs",
    response_model=RunLogPublic,
    responses={
        200: {
            "content": {PLAIN_TEXT: {"schema": {"type": "string"}}},
            "description": "The lines as JSON, or as plain text with Accept: text/plain.",
        },
    },
)
def read_run_log(
    experiment: OwnedExperiment,
    lines: Annotated[
        int,
        Query(ge=1, le=MAX_TAIL_LINES, description="How many of the last lines; default 200."),
    ] = 200,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> RunLogPublic | PlainTextResponse:
    """The last ``lines`` lines of the run's log, oldest first; ``truncated`` says whether
    older lines exist. Empty before a worker starts the run."""
    tail, truncated = read_log_tail(settings.checkpoint_dir(experiment.id), lines=lines)
    if accept is not None and accept.split(",")[0].strip().startswith(PLAIN_TEXT):
        return PlainTextResponse("".join(f"{line}\n" for line in tail))
    return RunLogPublic(experiment_id=experiment.id, lines=tail, truncated=truncated)
