"""The service under test as processes: the API under uvicorn and Celery workers on real
Redis and PostgreSQL (tests/support/redis.py, postgres.py), and beside it a keyed API on
the same servers, run as production runs it.

Every process started here is stopped by a fixture finalizer, also when a test fails;
every wait is bounded. The fixtures over these are in tests/support/fixtures.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from adamlab.http_protocol import UVICORN_HTTP
from tests.support.env import REPO_ROOT, SERVICE_SETTINGS, base_env
from tests.support.processes import free_port, start_child, stop_child, wait_until

API_START_TIMEOUT_S = 60.0
WORKER_START_TIMEOUT_S = 90.0


@dataclass
class Service:
    """The API (uvicorn) and Celery workers as subprocesses, on real Redis and PostgreSQL."""

    base_url: str
    env: dict[str, str]
    state_dir: Path
    log_dir: Path
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_names: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def _log(self, name: str) -> IO[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        return log

    def start_api(self, *, processes: int = 1) -> None:
        """uvicorn serving the API, with ``processes`` worker processes (``--workers``)."""
        port = int(self.base_url.rsplit(":", 1)[1])
        argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--log-level", "warning"]
        argv += ["--http", UVICORN_HTTP]  # read timeouts and a connection cap, as served
        if processes > 1:
            argv += ["--workers", str(processes)]
        self.api = start_child(argv, env=self.env, cwd=REPO_ROOT, output=self._log("api"))
        wait_until(self._api_ready, timeout_s=API_START_TIMEOUT_S, what="the API answering /readyz")

    def _api_ready(self) -> bool:
        if self.api is not None and self.api.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({self.api.returncode}); see {self.log_dir}")
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def start_worker(self, name: str, *, queues: str = "cpu") -> subprocess.Popen[bytes]:
        """Start ``adamlab worker`` and wait until it answers a ping (consumer ready)."""
        argv = [sys.executable, "-m", "adamlab.cli", "worker", "--queues", queues]
        argv += ["--name", f"{name}@%h", "--loglevel", "WARNING"]
        process = start_child(argv, env=self.env, cwd=REPO_ROOT, output=self._log(name))
        self.workers.append(process)
        self.worker_names[name] = process
        ping = [sys.executable, "-m", "adamlab.cli", "worker", "--name", f"{name}@%h", "--ping"]

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"worker {name} exited ({process.returncode})")
            done = subprocess.run(ping, env=self.env, cwd=REPO_ROOT, timeout=60, check=False)
            return done.returncode == 0

        wait_until(answers, timeout_s=WORKER_START_TIMEOUT_S, what=f"worker {name} ready")
        return process

    def worker_named(self, name: str) -> subprocess.Popen[bytes]:
        return self.worker_names[name]

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker's whole process group: main process and pool children."""
        stop_child(process, first_signal=signal.SIGKILL, grace_s=10.0)
        self.workers.remove(process)

    def stop(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            stop_child(process, grace_s=10.0)
        self.workers.clear()
        for log in self._logs:
            log.close()

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)


def make_service(*, redis_url: str, database_url: str, root: Path) -> Service:
    state_dir = root / "state"
    log_dir = root / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = base_env(
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        ADAMLAB_STATE_DIR=str(state_dir),
        **SERVICE_SETTINGS,
    )
    return Service(
        base_url=f"http://127.0.0.1:{free_port()}", env=env, state_dir=state_dir, log_dir=log_dir
    )


def migrate(env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "adamlab.cli", "migrate"]
    subprocess.run(argv, env=env, cwd=REPO_ROOT, timeout=120, check=True, capture_output=True)


@contextmanager
def running_service(
    *, redis_url: str, database_url: str, root: Path, session: pytest.Session
) -> Iterator[Service]:
    """The API and one worker (queue cpu, named worker1) on the given servers."""
    running = make_service(redis_url=redis_url, database_url=database_url, root=root)
    try:
        migrate(running.env)
        running.start_api()
        running.start_worker("worker1")
        yield running
    finally:
        failed = session.testsfailed
        running.stop()
        if failed:
            print(f"\nservice logs ({running.log_dir}):\n{running.log_tails()}")


KEYED_SERVICE_SETTINGS = {"ADAMLAB_AUTH": "required", "ADAMLAB_MAX_ACTIVE_PER_TENANT": "3"}
"""The keyed API's settings: keys required, as in production, and a small cap."""
KEYED_API_PROCESSES = 2


@dataclass
class KeyedService:
    """A second API on the shared service's store, broker and workers, run as production
    runs it: API keys required, a cap of 3 active experiments per tenant, and two uvicorn
    worker processes sharing PROMETHEUS_MULTIPROC_DIR. ``new_key`` makes a key in the
    store directly, as ``adamlab keys create`` does."""

    api: Service
    session_factory: Any

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def new_key(self, tenant: str) -> str:
        from core.store.tenants import create_api_key

        with self.session_factory() as session:
            return create_api_key(session=session, tenant_name=tenant).key

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)


@contextmanager
def keyed_service_beside(
    shared: Service, *, root: Path, session: pytest.Session
) -> Iterator[KeyedService]:
    from core.store.session import make_engine, make_session_factory

    metrics_dir = root / "prometheus"
    metrics_dir.mkdir(parents=True)
    (root / "logs").mkdir()
    env = shared.env | KEYED_SERVICE_SETTINGS | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    api = Service(
        base_url=f"http://127.0.0.1:{free_port()}",
        env=env,
        state_dir=shared.state_dir,  # checkpoints are the workers': the same folder
        log_dir=root / "logs",
    )
    engine = make_engine(env["DATABASE_URL"])
    try:
        api.start_api(processes=KEYED_API_PROCESSES)
        yield KeyedService(api=api, session_factory=make_session_factory(engine))
    finally:
        failed = session.testsfailed
        api.stop()
        engine.dispose()
        if failed:
            print(f"\nkeyed API logs ({api.log_dir}):\n{api.log_tails()}")
