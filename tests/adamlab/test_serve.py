"""When keys are required: ``adamlab serve``'s rules (loopback without keys, refusal
beyond it, keys required once one exists). The API's own loopback-only answer when
ADAMLAB_AUTH=disabled is tested in tests/api/test_auth_disabled.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adamlab.processes import free_port
from core.auth_policy import AuthRefusedError, choose_auth
from core.store.migrate import upgrade_to_head
from core.store.session import make_engine, make_session_factory
from core.store.tenants import create_api_key
from tests.support.env import base_env
from tests.support.processes import run_to_end
from tests.support.serve import adamlab_serve, serve_argv

# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "configured", "active_keys", "mode", "says"),
    [
        ("127.0.0.1", None, 0, "disabled", "NOT required (the store has no API key yet)"),
        ("localhost", None, 0, "disabled", "loopback only"),
        ("::1", None, 0, "disabled", "NOT required"),
        ("127.0.0.1", None, 2, "required", "required (2 active"),
        ("127.0.0.1", "disabled", 2, "disabled", "NOT required (ADAMLAB_AUTH=disabled)"),
        ("127.0.0.1", "required", 0, "required", "has none yet"),
        ("0.0.0.0", None, 1, "required", "required (1 active"),
        ("10.1.2.3", "required", 3, "required", "required (3 active"),
    ],
)
def test_serve_chooses_whether_keys_are_required(
    host: str, configured: str | None, active_keys: int, mode: str, says: str
) -> None:
    chosen, note = choose_auth(host=host, configured=configured, active_keys=active_keys)
    assert chosen == mode
    assert says in note


@pytest.mark.parametrize(
    ("host", "configured", "active_keys", "names"),
    [
        ("0.0.0.0", None, 0, "adamlab keys create"),
        ("example.org", "required", 0, "--host example.org"),
        ("0.0.0.0", "disabled", 5, "ADAMLAB_AUTH=disabled"),
        ("192.168.1.4", "disabled", 0, "--host 192.168.1.4"),
    ],
)
def test_serve_refuses_to_open_the_api_beyond_loopback_without_keys(
    host: str, configured: str | None, active_keys: int, names: str
) -> None:
    with pytest.raises(AuthRefusedError, match=names):
        choose_auth(host=host, configured=configured, active_keys=active_keys)


# --- the command ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_env", "names"),
    [({}, "the store has none"), ({"ADAMLAB_AUTH": "disabled"}, "ADAMLAB_AUTH=disabled")],
)
def test_serve_on_a_public_address_without_keys_refuses_to_start(
    tmp_path: Path, extra_env: dict[str, str], names: str
) -> None:
    env = base_env(ADAMLAB_STATE_DIR=str(tmp_path), **extra_env)
    done = run_to_end(serve_argv("0.0.0.0", free_port()), env=env, timeout_s=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert names in done.stderr and "--host 0.0.0.0" in done.stderr
    assert not (tmp_path / "redis").exists()  # refused before starting anything


@pytest.fixture
def store_with_a_key(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A state folder whose SQLite store holds one API key; the folder and the key."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    url = f"sqlite:///{state_dir / 'adamlab.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        key = create_api_key(session=session, tenant_name="solo").key
    engine.dispose()
    yield state_dir, key


@pytest.mark.service
@pytest.mark.slow
def test_serve_requires_keys_once_the_store_has_one(
    tmp_path: Path, store_with_a_key: tuple[Path, str]
) -> None:
    state_dir, key = store_with_a_key
    env = base_env(ADAMLAB_STATE_DIR=str(state_dir), ADAMLAB_TORCH_THREADS="1")
    with adamlab_serve(env=env, log_path=tmp_path / "serve.log") as serve:
        assert "API keys are required (1 active" in serve.log()
        anonymous = httpx.get(f"{serve.base_url}/v1/experiments", timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        keyed = httpx.get(
            f"{serve.base_url}/v1/experiments",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert keyed.status_code == 200, keyed.text


@pytest.mark.service
@pytest.mark.slow
def test_serve_closes_a_silent_connection_after_the_header_timeout(tmp_path: Path) -> None:
    env = base_env(
        ADAMLAB_STATE_DIR=str(tmp_path / "state"),
        ADAMLAB_TORCH_THREADS="1",
        ADAMLAB_HTTP_HEADER_TIMEOUT_S="1",
    )
    with adamlab_serve(env=env, log_path=tmp_path / "serve.log") as serve:
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as silent:
            opened = time.monotonic()
            silent.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
            answer = b""
            while chunk := silent.recv(65536):
                answer += chunk
            closed_after_s = time.monotonic() - opened
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 0.9 <= closed_after_s < 5, closed_after_s
