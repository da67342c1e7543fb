"""Child processes of the tests: the command's own tools for starting, waiting on and
stopping them (every wait bounded), running one to its end, and where the ``adamlab``
executable is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from adamlab.processes import (
    free_port,
    start_child,
    start_private_redis,
    stop_child,
    wait_until,
)
from tests.support.env import REPO_ROOT

__all__ = [
    "adamlab_executable",
    "free_port",
    "process_alive",
    "run_to_end",
    "start_child",
    "start_private_redis",
    "stop_child",
    "wait_until",
]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def adamlab_executable() -> str:
    found = shutil.which("adamlab", path=str(Path(sys.executable).parent))
    return found or str(Path(sys.executable).parent / "adamlab")


def run_to_end(
    argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the repository's root until it exits (within ``timeout_s``): its exit
    status and its output as text, whatever the status. ``env`` None: this process's."""
    return subprocess.run(
        argv,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
