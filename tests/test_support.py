"""The real-server fixtures themselves (tests/support/): CI must never skip the service
tests."""

from __future__ import annotations

import pytest

from tests.support import env, postgres


def test_missing_server_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        env.server_unavailable("no Redis")


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        env.server_unavailable("no Redis")


def test_service_environment_drops_the_callers_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    child_env = env.base_env(ADAMLAB_STATE_DIR="/tmp/x")
    assert "REDIS_URL" not in child_env and "DATABASE_URL" not in child_env
    assert child_env["ADAMLAB_STATE_DIR"] == "/tmp/x"


def test_postgres_database_url_keeps_a_socket_host() -> None:
    url = postgres.postgres_database_url("postgresql://postgres:@?host=/run/pg", "adamlab_test")
    assert url == "postgresql+psycopg://postgres:@/adamlab_test?host=/run/pg"
    assert (
        postgres.postgres_database_url("postgresql://postgres@127.0.0.1:5432", "db")
        == "postgresql+psycopg://postgres@127.0.0.1:5432/db"
    )
