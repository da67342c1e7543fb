"""The compose stack's structure (Docker does not run here; the topology itself is exercised
as real processes on loopback by the service tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices

from adamlab.cli import build_parser
from core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OUR_SERVICES = ("migrate", "api", "worker")
LONG_RUNNING = ("redis", "postgres", "api", "worker")


def settings_variables() -> set[str]:
    """Every environment variable name the Settings object reads."""
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
    return names


def test_stack_has_the_five_services() -> None:
    assert set(SERVICES) == {"redis", "postgres", "migrate", "api", "worker"}


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"], service
    assert "interval" in healthcheck and "retries" in healthcheck


@pytest.mark.parametrize("service", ("api", "worker"))
def test_service_waits_for_healthy_servers_and_finished_migrations(service: str) -> None:
    depends_on = SERVICES[service]["depends_on"]
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_run_once_against_a_healthy_database() -> None:
    migrate = SERVICES["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


def test_servers_keep_their_data_on_named_volumes() -> None:
    named = set(COMPOSE["volumes"])
    redis, postgres = SERVICES["redis"], SERVICES["postgres"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    for service in (redis, postgres):
        assert {mount.split(":")[0] for mount in service["volumes"]} & named
    # Checkpoints are written by workers and served by the API: one shared volume.
    assert "adamlab-state:/var/lib/adamlab" in SERVICES["api"]["volumes"]
    assert "adamlab-state:/var/lib/adamlab" in SERVICES["worker"]["volumes"]


def test_worker_reserves_one_nvidia_gpu() -> None:
    devices = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


@pytest.mark.parametrize("service", OUR_SERVICES)
def test_environment_names_only_variables_the_settings_read(service: str) -> None:
    environment = SERVICES[service]["environment"]
    assert set(environment) <= settings_variables(), set(environment) - settings_variables()
    assert {"DATABASE_URL", "REDIS_URL"} <= set(environment)


def test_required_secret_fails_loudly_when_unset() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert uses, "POSTGRES_PASSWORD is not used"
    assert all(use.startswith(":?") for use in uses), uses


@pytest.mark.parametrize("service", ("migrate", "worker"))
def test_adamlab_commands_of_the_stack_parse(service: str) -> None:
    command = SERVICES[service]["command"]
    assert command[0] == "adamlab"
    build_parser().parse_args(command[1:])


def test_worker_healthcheck_is_an_adamlab_command_that_parses() -> None:
    probe = SERVICES["worker"]["healthcheck"]["test"]
    assert probe[:2] == ["CMD", "adamlab"]
    build_parser().parse_args(probe[2:])


def test_api_serves_the_app_module() -> None:
    assert SERVICES["api"]["command"][:2] == ["uvicorn", "api.main:app"]


def test_torch_is_pinned_only_in_the_makefile() -> None:
    for name in ("Dockerfile", "pyproject.toml"):
        assert not re.search(r"torch\s*==", (REPO_ROOT / name).read_text()), name
    assert re.search(
        r"^TORCH_VERSION := \d+\.\d+\.\d+$", (REPO_ROOT / "Makefile").read_text(), re.M
    )
    assert "make venv" in (REPO_ROOT / "Dockerfile").read_text()


def test_api_serves_with_read_timeouts_and_a_connection_cap() -> None:
    from uvicorn.importer import import_from_string

    from adamlab.http_protocol import UVICORN_HTTP, TimedH11Protocol

    command = SERVICES["api"]["command"]
    assert command[command.index("--http") + 1] == UVICORN_HTTP
    assert import_from_string(UVICORN_HTTP) is TimedH11Protocol
