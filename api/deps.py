"""Dependencies the routes declare, as ``Annotated`` aliases so a test can swap one with
``app.dependency_overrides``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from core.celery_app import dispatch_experiment
from core.store.session import session_scope


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

Dispatch = Callable[[str, str], None]
"""Sends the job of an experiment id to a queue."""


async def get_dispatch() -> Dispatch:
    return lambda experiment_id, queue: dispatch_experiment(experiment_id, queue=queue)


DispatchDep = Annotated[Dispatch, Depends(get_dispatch)]


async def require_json_body(request: Request) -> None:
    """Refuse a body that does not say it is JSON (415), before reading it."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"the body must be JSON, sent with Content-Type: application/json "
            f"(got {content_type or 'no Content-Type'!r})",
        )


JsonBody = Depends(require_json_body)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes a retried submission safe: the same key and body return the "
        "same experiment; the same key with another body is 409.",
    ),
]
