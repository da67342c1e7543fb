"""Fixtures of the service tests, a plugin of the whole suite (tests/conftest.py): real
Redis and PostgreSQL, the API with one worker running on them, shared by the whole
session (keys not required), and beside it a keyed API on the same servers (keys
required, a per-tenant cap); the same pair on a SQLite store (with its own Redis
database and worker); a migrated SQLite store with its sessions; and a migrated store of
each kind in turn (SQLite, then PostgreSQL), opened in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import POSTGRES_TEST_DATABASE, postgres_database, postgres_server
from tests.support.redis import redis_database
from tests.support.service import KeyedService, Service, keyed_service_beside, running_service
from tests.support.store import Store, open_store


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_database(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with (
        postgres_server(tmp_path_factory.mktemp("pgdata")) as admin_url,
        postgres_database(admin_url, POSTGRES_TEST_DATABASE) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def service(
    request: pytest.FixtureRequest,
    redis_url: str,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    with running_service(
        redis_url=redis_url,
        database_url=postgres_url,
        root=tmp_path_factory.mktemp("service"),
        session=request.session,
    ) as running:
        yield running


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="session")
def keyed_service(
    request: pytest.FixtureRequest, service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeyedService]:
    with keyed_service_beside(
        service, root=tmp_path_factory.mktemp("keyed"), session=request.session
    ) as keyed:
        yield keyed


@pytest.fixture(scope="session")
def sqlite_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The API and a worker as ``service``, on a SQLite store and a Redis database of
    their own (never the PostgreSQL service's queue: its worker reads another store)."""
    root = tmp_path_factory.mktemp("sqlite-service")
    (root / "redis").mkdir()
    with (
        redis_database(root / "redis") as own_redis_url,
        running_service(
            redis_url=own_redis_url,
            database_url=f"sqlite:///{root / 'store.db'}",
            root=root,
            session=request.session,
        ) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def sqlite_keyed_service(
    request: pytest.FixtureRequest,
    sqlite_service: Service,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KeyedService]:
    with keyed_service_beside(
        sqlite_service, root=tmp_path_factory.mktemp("sqlite-keyed"), session=request.session
    ) as keyed:
        yield keyed


# --- a SQLite store, for the commands and the store's own tests -------------------------------


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store, which DATABASE_URL names for the commands."""
    from core.store.migrate import upgrade_to_head

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_to_head(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def sessions(store_url: str) -> Iterator[object]:
    """A session factory on ``store_url``'s store."""
    from core.store.session import make_engine, make_session_factory

    engine = make_engine(store_url)
    yield make_session_factory(engine)
    engine.dispose()


# --- a store of each kind, for the tests that hold on SQLite and on PostgreSQL ---------------


@pytest.fixture(scope="module")
def migrated_postgres_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated PostgreSQL database of the test module's own, named after it
    (``adamlab_test_<pid>_<module>``), so one module's tables never meet another's."""
    module = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    with (
        postgres_server(tmp_path_factory.mktemp("pgdata")) as admin_url,
        postgres_database(admin_url, f"{POSTGRES_TEST_DATABASE}_{module}", migrated=True) as url,
    ):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def each_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated store of each kind in turn: a new SQLite file, then the module's
    PostgreSQL database (``migrated_postgres_url``)."""
    if request.param == "sqlite":
        from core.store.migrate import upgrade_to_head

        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade_to_head(url)
        return url
    return request.getfixturevalue("migrated_postgres_url")


@pytest.fixture
def store(each_store_url: str) -> Iterator[Store]:
    """``each_store_url``'s store opened in this process, emptied first
    (tests/worker/conftest.py narrows it to SQLite for the tests that run the task)."""
    with open_store(each_store_url) as opened:
        yield opened
