"""Fixtures of the service tests: real Redis and PostgreSQL (see tests/servers.py), the
API with one worker running on them, shared by the whole session (keys not required), and
beside it a keyed API on the same servers (keys required, a per-tenant cap)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import (
    POSTGRES_TEST_DATABASE,
    KeyedService,
    Service,
    keyed_service_beside,
    postgres_database,
    postgres_server,
    redis_database,
    running_service,
)


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
