"""The tests' surroundings: the repository's root, whether this is CI, and the
environment of the processes the tests start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"

# Settings of the service under test: fast heartbeats and reaper, so a killed worker's
# job is requeued within seconds; points reach the store quickly.
SERVICE_SETTINGS = {
    "ADAMLAB_HEARTBEAT_INTERVAL_S": "0.25",
    "ADAMLAB_HEARTBEAT_TIMEOUT_S": "3",
    "ADAMLAB_REAPER_INTERVAL_S": "0.5",
    "ADAMLAB_METRIC_FLUSH_INTERVAL_S": "0.2",
    # Tiny models on this shared 2-core machine: one thread each, not two fighting.
    "ADAMLAB_TORCH_THREADS": "1",
    # The shared service serves without keys (on loopback, as the embedded default may);
    # keys, tenants and limits are tested on a second API on the same servers that
    # requires them, as production does (tests/support/fixtures.py, keyed_service).
    "ADAMLAB_AUTH": "disabled",
}
_SERVICE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "ADAMLAB_MAX_ACTIVE_PER_TENANT",
    "PROMETHEUS_MULTIPROC_DIR",
    *SERVICE_SETTINGS,
)


def server_unavailable(reason: str) -> None:
    """Skip, or fail under CI=true: CI must run the service tests, never skip them."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server is a failure)")
    pytest.skip(reason)


def base_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any service setting, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if key not in _SERVICE_VARIABLES}
    env.pop("ADAMLAB_STATE_DIR", None)
    return env | overrides
