"""Child processes of the tests: the command's own tools for starting, waiting on and
stopping them (every wait bounded), and where the ``adamlab`` executable is."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from adamlab.commands.serve import (
    free_port,
    start_child,
    start_private_redis,
    stop_child,
    wait_until,
)

__all__ = [
    "adamlab_executable",
    "free_port",
    "process_alive",
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
