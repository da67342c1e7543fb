"""Engines and sessions of the store, for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
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


# --- the statement timeout ------------------------------------------------------------------


class StatementTimeoutError(Exception):
    """A statement ran longer than the store allows (ADAMLAB_STATEMENT_TIMEOUT_S) and was
    stopped by the database; its transaction is lost (the session must roll back)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"a statement of the store ran longer than {timeout_s:g} s "
            "(ADAMLAB_STATEMENT_TIMEOUT_S) and was stopped"
        )
        self.timeout_s = timeout_s


POSTGRES_QUERY_CANCELED = "57014"
"""PostgreSQL's SQLSTATE of a statement cancelled, by its timeout among other causes."""
SQLITE_PROGRESS_INSTRUCTIONS = 10_000
"""SQLite calls the deadline check every this many virtual machine instructions (well
under a millisecond)."""


class _SqliteDeadline:
    """SQLite has no statement timeout: a progress handler interrupts a statement once the
    deadline set when it started has passed. Per connection; cleared at each commit,
    rollback and return to the pool, so only a running statement is ever interrupted."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.expired = False

    def start(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s
        self.expired = False

    def clear(self) -> None:
        self.deadline = None

    def interrupt(self) -> int:
        """sqlite3's progress handler: nonzero interrupts the running statement."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.expired = True
            return 1
        return 0


_DEADLINE_KEY = "adamlab_statement_deadline"


def _sqlite_deadline_of(record_info: dict[Any, Any]) -> _SqliteDeadline | None:
    deadline = record_info.get(_DEADLINE_KEY)
    return deadline if isinstance(deadline, _SqliteDeadline) else None


def _guard_sqlite_statements(engine: Engine, timeout_s: float) -> None:
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        deadline = _SqliteDeadline(timeout_s)
        connection_record.info[_DEADLINE_KEY] = deadline
        dbapi_connection.set_progress_handler(deadline.interrupt, SQLITE_PROGRESS_INSTRUCTIONS)

    def on_statement(connection: Any, *args: Any) -> None:
        deadline = _sqlite_deadline_of(connection.info)
        if deadline is not None:
            deadline.start()

    def on_end(connection: Any, *args: Any) -> None:
        deadline = _sqlite_deadline_of(connection.info)
        if deadline is not None:
            deadline.clear()

    def on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        deadline = _sqlite_deadline_of(connection_record.info)
        if deadline is not None:
            deadline.clear()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)
    event.listen(engine.pool, "reset", on_reset)


def _timed_out(context: ExceptionContext, *, timeout_s: float) -> StatementTimeoutError | None:
    """The database's error for a statement stopped at its timeout, as a
    ``StatementTimeoutError`` (which SQLAlchemy raises in its place); else None."""
    error = context.original_exception
    if getattr(error, "sqlstate", None) == POSTGRES_QUERY_CANCELED and "statement timeout" in str(
        error
    ):
        return StatementTimeoutError(timeout_s)
    if isinstance(error, sqlite3.OperationalError) and context.connection is not None:
        deadline = _sqlite_deadline_of(context.connection.info)
        if deadline is not None and deadline.expired:
            return StatementTimeoutError(timeout_s)
    return None


def make_engine(
    url: str, *, statement_timeout_s: float | None | Literal["setting"] = "setting"
) -> Engine:
    """An engine for ``url`` with the settings each database needs under several processes.

    No statement may run longer than ``statement_timeout_s`` (default
    ADAMLAB_STATEMENT_TIMEOUT_S; None: no limit, for migrations): PostgreSQL stops it
    itself (``statement_timeout`` of every connection, so a backend is freed also when
    the client has gone), SQLite through a progress handler. Either way the caller gets a
    ``StatementTimeoutError``.
    """
    timeout_s = (
        settings.statement_timeout_s if statement_timeout_s == "setting" else statement_timeout_s
    )
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        if timeout_s is not None:
            _guard_sqlite_statements(engine, timeout_s)
    else:
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if timeout_s is not None:
            connect_args["options"] = f"-c statement_timeout={max(1, round(timeout_s * 1000))}"
        # Up to 40 connections: one for each thread of the API's threadpool (anyio's
        # default 40), so a burst of requests never waits on the pool; 10 kept when idle.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=30,
            pool_timeout=2 * CONNECT_TIMEOUT_S,
            connect_args=connect_args,
        )
    if timeout_s is not None:
        event.listen(
            engine, "handle_error", functools.partial(_timed_out, timeout_s=timeout_s), retval=True
        )
    return engine


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
