"""The store opened in the test's own process: an engine and a session factory on a
migrated store, emptied first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Store:
    url: str
    engine: Any
    session_factory: Any

    def session(self) -> Any:
        return self.session_factory()


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    """An engine and session factory on the migrated store at ``url``, emptied first."""
    from sqlalchemy import text

    from core.store.session import make_engine, make_session_factory

    engine = make_engine(url)
    with engine.begin() as connection:
        for table in ("metric_points", "checkpoints", "experiment_tags", "experiments"):
            connection.execute(text(f"DELETE FROM {table}"))
    try:
        yield Store(url=url, engine=engine, session_factory=make_session_factory(engine))
    finally:
        engine.dispose()
