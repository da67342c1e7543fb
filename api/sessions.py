"""The store session of a request: ``get_session``, the dependency every route takes it
through (a test swaps the store by overriding it), and ``session_opener``, which gives the
same session to code that runs before FastAPI's dependencies (the key check of
``api.auth.KeyedRoute``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from fastapi import Request
from sqlalchemy.orm import Session

from core.store.session import session_scope


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


def session_opener(request: Request) -> Callable[[], AbstractContextManager[Session]]:
    """How to open the request's session outside dependency injection: the app's override
    of ``get_session`` when it has one, else the store's default."""
    override = request.app.dependency_overrides.get(get_session)
    if override is None:
        return session_scope
    return contextmanager(override)
