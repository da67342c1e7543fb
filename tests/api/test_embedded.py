"""The embedded default: ``adamlab serve`` with nothing configured runs a digits experiment
(private Redis, SQLite, one worker, uvicorn) and leaves no process behind on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adamlab.processes import wait_until
from core.store.migrate import head_revision
from tests.factories import digits_body
from tests.support.client import finished, poll_experiment
from tests.support.env import base_env
from tests.support.processes import adamlab_executable
from tests.support.serve import adamlab_serve

pytestmark = [
    pytest.mark.service,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads the process tree from /proc"),
]

DIGITS = digits_body(name="embedded", optimizer={"name": "adam", "lr": 0.01}, epochs=5)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_serve_with_nothing_configured_runs_an_experiment_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    # Only the state folder is given; ADAMLAB_TORCH_THREADS=1 for this shared machine.
    env = base_env(ADAMLAB_STATE_DIR=str(state_dir), ADAMLAB_TORCH_THREADS="1")
    assert "REDIS_URL" not in env and "DATABASE_URL" not in env
    children: set[int] = set()
    try:
        with adamlab_serve(env=env, log_path=tmp_path / "serve.log") as served:
            with httpx.Client(base_url=served.base_url, timeout=30) as client:
                created = client.post("/v1/experiments", json=DIGITS)
                assert created.status_code == 201, created.text
                done = poll_experiment(client, created.json()["id"], until=finished, timeout_s=90)
                assert done["status"] == "succeeded", done
                assert done["final_metrics"]["test_acc"] > 0.8  # 0.87 on this machine
                curves = client.get(f"/v1/experiments/{done['id']}/metrics").json()["curves"]
                assert len(curves["test_acc"]["steps"]) == 5
            assert (state_dir / "adamlab.db").is_file()
            assert (state_dir / "redis").is_dir()
            # No key in the store, a loopback host: no keys asked for, and the log says so.
            assert "API keys are NOT required" in served.log()

            children = descendants(served.process.pid)
            assert len(children) >= 4  # redis-server, worker (main + pool child), uvicorn
            served.process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
            assert served.process.wait(timeout=60) == 0
            wait_until(
                lambda: not any(alive(pid) for pid in children),
                timeout_s=10,
                what="every child of adamlab serve exiting",
            )
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_migrate_command_creates_and_keeps_the_schema(tmp_path: Path) -> None:
    env = base_env(ADAMLAB_STATE_DIR=str(tmp_path))
    argv = [adamlab_executable(), "migrate"]
    for _ in range(2):  # the second run finds nothing to do
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"is at migration {head_revision()}" in done.stdout
    assert (tmp_path / "adamlab.db").is_file()
