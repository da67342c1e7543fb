"""Live events as server-sent events (``text/event-stream``): an experiment's status,
progress and new metric points, and a sweep's members; each request sees only its
tenant's. The streams are ``api.event_streams``; the one Redis subscription behind them is
``api.event_hub``. Resuming: the browser's ``EventSource`` sends back the last event's
``id`` as ``Last-Event-ID`` when it reconnects (a client that cannot set headers passes it
as ``last_event_id``); a stream that has sent ``end`` answers 204 to it, which tells a
browser to stop reconnecting."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse

from api.auth import KeyedRoute
from api.deps import (
    CurrentTenant,
    experiment_not_found,
    find_owned_experiment,
    sweep_not_found,
)
from api.event_hub import hub
from api.event_positions import (
    TERMINAL_STATUSES,
    ExperimentPosition,
    InvalidPositionError,
    SweepPosition,
)
from api.event_streams import experiment_events, sweep_events
from api.schemas import ErrorPublic
from api.sessions import session_opener
from core.settings import settings
from core.store.experiments import is_experiment_id
from core.store.sweeps import get_sweep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"], route_class=KeyedRoute)

SUBSCRIBE_TIMEOUT_S = 5.0
MAX_EVENT_ID_CHARS = 8192
"""Longest Last-Event-ID read (a sweep's id holds its running members' positions)."""
EVENT_SCHEMA = {
    "type": "object",
    "description": "One server-sent event; data is JSON text (docs/api.md, Live events).",
    "properties": {
        "event": {"type": "string", "enum": ["status", "progress", "points", "sweep", "end"]},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["event", "data", "id"],
}
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=MAX_EVENT_ID_CHARS,
        description="The id of the last event received: the stream resumes after it.",
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        alias="last_event_id",
        max_length=MAX_EVENT_ID_CHARS,
        description="As Last-Event-ID, for a client that cannot set headers (the header wins).",
    ),
]


def _stream_responses(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
            "description": "Server-sent events until the end (docs/api.md, Live events).",
        },
        204: {"description": f"The {what} had ended when the Last-Event-ID was sent."},
        404: {"model": ErrorPublic, "description": f"No {what} with this id."},
        503: {"model": ErrorPublic, "description": "The live events' broker is unreachable."},
    }


def _decoded(text: str | None, kind: type[ExperimentPosition] | type[SweepPosition]) -> Any:
    """The client's position; an id this server never sent starts over (logged)."""
    if not text:
        return kind()
    try:
        return kind.decode(text)
    except InvalidPositionError as exc:
        logger.info("Last-Event-ID not a position (%s); the stream starts over", exc)
        return kind()


async def _subscribed() -> None:
    if not await hub.ready(SUBSCRIBE_TIMEOUT_S):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Live events are unavailable: the broker at REDIS_URL does not answer. Try again "
            "later; the data is in /metrics meanwhile.",
            headers={"Retry-After": "5"},
        )


@router.get(
    "/v1/experiments/{experiment_id}/events",
    response_class=EventSourceResponse,
    responses=_stream_responses("experiment"),
)
async def stream_experiment_events(
    experiment_id: str,
    request: Request,
    tenant: CurrentTenant,
    last_event_id: LastEventId = None,
    last_event_id_query: LastEventIdQuery = None,
) -> Response:
    """The experiment's events (``status``, ``progress``, ``points``, ``end``), from where
    the client stands (nothing or ``Last-Event-ID``): first what the store holds, then live
    as the worker writes it, a comment line every ``ADAMLAB_EVENTS_PING_S``; the stream
    closes after ``end``."""
    open_session = session_opener(request)

    def owned_status() -> str | None:
        with open_session() as session:
            row = find_owned_experiment(session, experiment_id, tenant_id=tenant.id)
            return None if row is None else row.status

    found = await run_in_threadpool(owned_status)
    if found is None:
        raise experiment_not_found(experiment_id)
    position: ExperimentPosition = _decoded(
        last_event_id or last_event_id_query, ExperimentPosition
    )
    if position.ended and found in TERMINAL_STATUSES:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await _subscribed()
    events = experiment_events(
        experiment_id=experiment_id, position=position, hub=hub, open_session=open_session
    )
    return EventSourceResponse(events, ping=settings.events_ping_s, headers=STREAM_HEADERS)


@router.get(
    "/v1/sweeps/{sweep_id}/events",
    response_class=EventSourceResponse,
    responses=_stream_responses("sweep"),
)
async def stream_sweep_events(
    sweep_id: str,
    request: Request,
    tenant: CurrentTenant,
    last_event_id: LastEventId = None,
    last_event_id_query: LastEventIdQuery = None,
) -> Response:
    """The sweep's events: its members' ``status``, ``progress`` and ``points`` (each with
    its ``experiment_id``), ``sweep`` (its status and its members' counts) when a member's
    status changes, and ``end`` once the sweep has stopped running and every member has
    ended; resumable as an experiment's stream is."""
    open_session = session_opener(request)

    def owned_status() -> str | None:
        if not is_experiment_id(sweep_id):
            return None
        with open_session() as session:
            row = get_sweep(session=session, sweep_id=sweep_id, tenant_id=tenant.id)
            return None if row is None else row.status

    found = await run_in_threadpool(owned_status)
    if found is None:
        raise sweep_not_found(sweep_id)
    position: SweepPosition = _decoded(last_event_id or last_event_id_query, SweepPosition)
    if position.ended and found != "running":
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await _subscribed()
    events = sweep_events(sweep_id=sweep_id, position=position, hub=hub, open_session=open_session)
    return EventSourceResponse(events, ping=settings.events_ping_s, headers=STREAM_HEADERS)
