"""Store outages: which database errors mean "the store cannot be reached right now", and
how a worker waits one out.

An outage is an error of the connection, not of the statement: the server refused or
dropped the connection, is shutting down or starting up, or has no connection left; on
SQLite, the file is locked past the busy timeout or cannot be opened. Anything else (a
bad statement, a constraint, a statement timeout) is a real error and stays one.

The API answers an outage 503 with ``Retry-After`` (``api/store_outage.py``) and serves again
by itself when the store is back: the engine checks each pooled connection before use
(``pool_pre_ping``, ``core/store/session.py``). A worker retries its writes (metric points,
the end of the run, the index of checkpoint files) with ``retry_while_store_unavailable``,
so a run outlives a database restart without losing a point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""What the API's 503 tells a client to wait: about a PostgreSQL restart."""

STORE_UNAVAILABLE_DETAIL = (
    "The store (database) cannot be reached right now; nothing was changed by this "
    f"request. Try again in {RETRY_AFTER_S} seconds."
)

# SQLSTATEs of PostgreSQL that say the server cannot serve this connection: class 08
# (connection exception), 53300 too_many_connections, 57P01 admin_shutdown, 57P02
# crash_shutdown, 57P03 cannot_connect_now (starting up or shutting down).
_POSTGRES_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
# sqlite3 error names of a store that is there but cannot be used now.
_SQLITE_UNAVAILABLE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def is_store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by SQLAlchemy) means the store is unreachable for now."""
    if isinstance(exc, DisconnectionError | PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    original = exc.orig
    sqlite_error = getattr(original, "sqlite_errorname", None)
    if isinstance(sqlite_error, str):
        return sqlite_error.startswith(_SQLITE_UNAVAILABLE_ERRORS)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:
        # psycopg without a server's answer: refused, reset, closed, or timed out.
        return True
    return str(sqlstate).startswith("08") or sqlstate in _POSTGRES_UNAVAILABLE_STATES


_P = ParamSpec("_P")
_R = TypeVar("_R")


def retry_while_store_unavailable(
    write: Callable[_P, _R], *, give_up_after_s: float, what: str
) -> Callable[_P, _R]:
    """``write`` retried while the store is unavailable: backoff from 0.2 s doubling to
    5 s (with jitter), for at most ``give_up_after_s`` seconds, then the last error is
    raised. Every other error is raised at once. ``write`` must be safe to repeat (an
    upsert, a compare-and-set): a commit whose answer was lost is sent again."""

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: the store is unavailable (%s); try %d again in %.1f s",
            what,
            str(error).splitlines()[0] if error else "?",
            state.attempt_number + 1,
            wait_s,
        )

    def retried(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        retrying = Retrying(
            retry=retry_if_exception(is_store_unavailable),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.2),
            stop=stop_after_delay(give_up_after_s),
            before_sleep=log_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return write(*args, **kwargs)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    return retried
