"""Engines and sessions of the store, for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from core.settings import settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the API read while a worker writes; busy_timeout makes a writer wait for the
    # lock instead of failing at once; SQLite enforces foreign keys only when asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_P = ParamSpec("_P")
_R = TypeVar("_R")
_sqlite_writer = threading.RLock()


def serialized_on_sqlite(write: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a store function that writes (called with ``session=``) under a process-wide
    lock when the store is SQLite.

    SQLite lets one connection write at a time; the others poll through its busy handler,
    which sleeps 1, 2, 5, ... up to 100 ms between tries, so under many concurrent
    requests a write can wait far longer than the lock is held. Threads of one process
    queue on this lock instead and are woken as soon as it is free. Other processes (the
    worker) still meet the busy handler, at the low rate they write. PostgreSQL: no lock.
    """

    @functools.wraps(write)
    def serialized(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        if session.get_bind().dialect.name != "sqlite":
            return write(*args, **kwargs)
        with _sqlite_writer:
            return write(*args, **kwargs)

    return serialized


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings each database needs under several processes."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    # Up to 40 connections: one for each thread of the API's threadpool (anyio's default
    # 40), so a burst of requests never waits on the pool; 10 are kept open when idle.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=30,
        pool_timeout=2 * CONNECT_TIMEOUT_S,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows stay readable after commit: routes return them after the store function commits.
    return sessionmaker(engine, expire_on_commit=False)


@functools.cache
def default_engine() -> Engine:
    """The process's engine on ``settings.store_url``, created on first use."""
    if settings.store_url.startswith("sqlite:///"):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.store_url)


@functools.cache
def default_session_factory() -> sessionmaker[Session]:
    return make_session_factory(default_engine())


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Generator[Session, None, None]:
    """A session that is closed on exit (store functions commit their own work)."""
    session = (factory or default_session_factory())()
    try:
        yield session
    finally:
        session.close()


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
