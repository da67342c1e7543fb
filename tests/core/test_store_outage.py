"""Which database errors are a store outage (``core.store.outage``), and the retry of a
worker's writes through one."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.store.outage import is_store_unavailable, retry_while_store_unavailable
from tests.support.processes import free_port


@dataclass
class _PostgresError(Exception):
    """Stands in for a psycopg error: what the classifier reads is its SQLSTATE."""

    sqlstate: str | None


def _operational(orig: BaseException) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


def test_refused_connection_is_an_outage() -> None:
    engine = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres",
        connect_args={"connect_timeout": 2},
    )
    with pytest.raises(OperationalError) as refused:
        engine.connect()
    assert is_store_unavailable(refused.value)


@pytest.mark.parametrize("sqlstate", [None, "08006", "08001", "57P01", "57P03", "53300"])
def test_connection_errors_of_postgres_are_an_outage(sqlstate: str | None) -> None:
    assert is_store_unavailable(_operational(_PostgresError(sqlstate)))


@pytest.mark.parametrize("sqlstate", ["57014", "40001", "42P01"])
def test_errors_of_the_statement_are_not_an_outage(sqlstate: str) -> None:
    # statement timeout, serialization failure, undefined table
    assert not is_store_unavailable(_operational(_PostgresError(sqlstate)))


def test_constraint_and_syntax_errors_are_not_an_outage() -> None:
    assert not is_store_unavailable(IntegrityError("INSERT", {}, _PostgresError("23505")))
    assert not is_store_unavailable(ProgrammingError("SELEC", {}, _PostgresError("42601")))
    assert not is_store_unavailable(ValueError("not a database error"))


def test_pool_exhausted_is_an_outage() -> None:
    assert is_store_unavailable(PoolTimeoutError("QueuePool limit reached"))


def test_sqlite_locked_is_an_outage_and_a_missing_table_is_not() -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorname = "SQLITE_BUSY"
    assert is_store_unavailable(_operational(locked))
    engine = create_engine("sqlite://")
    with engine.connect() as connection, pytest.raises(OperationalError) as missing:
        connection.execute(text("SELECT * FROM nowhere"))
    assert not is_store_unavailable(missing.value)


def test_write_is_retried_through_an_outage() -> None:
    calls: list[int] = []

    def write(value: int) -> int:
        calls.append(value)
        if len(calls) < 3:
            raise _operational(_PostgresError("57P01"))
        return value * 2

    retried = retry_while_store_unavailable(write, give_up_after_s=30, what="a test write")
    assert retried(21) == 42
    assert calls == [21, 21, 21]


def test_other_errors_are_raised_at_once_and_a_long_outage_in_the_end() -> None:
    calls = 0

    def constraint() -> None:
        nonlocal calls
        calls += 1
        raise IntegrityError("INSERT", {}, _PostgresError("23505"))

    with pytest.raises(IntegrityError):
        retry_while_store_unavailable(constraint, give_up_after_s=30, what="a test write")()
    assert calls == 1

    def outage() -> None:
        raise _operational(_PostgresError(None))

    with pytest.raises(OperationalError):
        retry_while_store_unavailable(outage, give_up_after_s=0.5, what="a test write")()
