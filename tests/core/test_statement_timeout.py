"""ADAMLAB_STATEMENT_TIMEOUT_S in the store (core/store/session.py), on SQLite and a real
PostgreSQL: a slow statement is stopped at the timeout as a StatementTimeoutError, the
connection serves the next one, and a transaction's own time between statements counts
for nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from core.store.session import StatementTimeoutError, make_engine

TIMEOUT_S = 0.3
SLOW = {
    "postgresql": "SELECT pg_sleep(20)",
    # About a minute without a guard: finite, so a broken guard fails the test.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 300000000) SELECT count(*) FROM n",
}


@pytest.fixture
def engine(each_store_url: str) -> Iterator[Engine]:
    made = make_engine(each_store_url, statement_timeout_s=TIMEOUT_S)
    yield made
    made.dispose()


def test_slow_statement_is_stopped_at_the_timeout(engine: Engine) -> None:
    with engine.connect() as connection:
        started = time.monotonic()
        with pytest.raises(StatementTimeoutError, match="ADAMLAB_STATEMENT_TIMEOUT_S"):
            connection.execute(text(SLOW[engine.dialect.name]))
        elapsed_s = time.monotonic() - started
        connection.rollback()
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert TIMEOUT_S * 0.9 <= elapsed_s < TIMEOUT_S + 3, elapsed_s


def test_time_between_statements_does_not_count(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("SELECT count(*) FROM experiments"))
        time.sleep(3 * TIMEOUT_S)
        connection.execute(text("DELETE FROM experiment_tags WHERE tag = 'none'"))
        time.sleep(3 * TIMEOUT_S)  # then the commit
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
