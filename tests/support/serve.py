"""``adamlab serve`` as a child process, as a user starts it: on a free loopback port, its
output in a log file, ready once /readyz answers 200, stopped with SIGINT (Ctrl-C)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.env import REPO_ROOT
from tests.support.processes import (
    adamlab_executable,
    free_port,
    start_child,
    stop_child,
    wait_until,
)

SERVE_START_TIMEOUT_S = 120.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()


def serve_argv(host: str, port: int) -> list[str]:
    return [adamlab_executable(), "serve", "--host", host, "--port", str(port)]


@contextmanager
def adamlab_serve(*, env: dict[str, str], log_path: Path) -> Iterator[Served]:
    """``adamlab serve --host 127.0.0.1`` on a free port with ``env`` (see
    ``tests.support.env.base_env``), once it answers /readyz; its output goes to
    ``log_path``. A serve that exits before it is ready fails the wait with its log."""
    port = free_port()
    with log_path.open("wb") as log:
        process = start_child(serve_argv("127.0.0.1", port), env=env, cwd=REPO_ROOT, output=log)
        served = Served(process=process, port=port, log_path=log_path)

        def ready() -> bool:
            assert process.poll() is None, served.log()
            try:
                return httpx.get(f"{served.base_url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(
                ready, timeout_s=SERVE_START_TIMEOUT_S, what="adamlab serve answering /readyz"
            )
            yield served
        finally:
            stop_child(process, first_signal=signal.SIGINT)
