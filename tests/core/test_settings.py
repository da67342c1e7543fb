"""Settings: environment variable names, defaults, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "ADAMLAB_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_store_defaults_to_sqlite_in_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ADAMLAB_STATE_DIR", str(tmp_path))
    config = Settings()
    assert config.store_url == f"sqlite:///{tmp_path / 'adamlab.db'}"
    assert config.redis_url is None
    assert config.checkpoint_dir("abc") == tmp_path / "checkpoints" / "abc"


def test_relative_state_dir_becomes_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAMLAB_STATE_DIR", "some/where")
    assert Settings().state_dir == Path.cwd() / "some" / "where"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_read_unprefixed_and_gets_the_psycopg_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert Settings().store_url == expected


def test_redis_url_is_read_unprefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/3")
    assert Settings().redis_url == "redis://example:6379/3"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://u@h/db"),
        ("REDIS_URL", "amqp://guest@localhost//"),
        ("ADAMLAB_HEARTBEAT_INTERVAL_S", "0"),
        ("ADAMLAB_MAX_ATTEMPTS", "zero"),
        ("ADAMLAB_MAX_BODY_BYTES", "10"),
        ("ADAMLAB_AUTO_DEVICE_QUEUE", "tpu"),
        ("ADAMLAB_METRIC_BATCH_SIZE", "-5"),
    ],
)
def test_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert variable in str(error.value)


def test_heartbeat_timeout_must_cover_several_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAMLAB_HEARTBEAT_INTERVAL_S", "2")
    monkeypatch.setenv("ADAMLAB_HEARTBEAT_TIMEOUT_S", "5")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "ADAMLAB_HEARTBEAT_TIMEOUT_S" in str(error.value)
    assert "ADAMLAB_HEARTBEAT_INTERVAL_S" in str(error.value)


def test_celery_reads_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.celery_app import celery_config

    monkeypatch.setenv("REDIS_URL", "redis://broker:6379/2")
    monkeypatch.setenv("ADAMLAB_BROKER_VISIBILITY_TIMEOUT_S", "7200")
    config = celery_config(Settings())
    assert config["broker_url"] == "redis://broker:6379/2"
    assert config["broker_transport_options"]["visibility_timeout"] == 7200
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert [queue.name for queue in config["task_queues"]] == ["cpu", "gpu"]
