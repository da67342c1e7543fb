"""``adamlab reproduce table1 --server`` when the service cannot train: a worker whose
ADAMLAB_DATA_DIR is an empty folder. The command stops at the first run that fails
before a step (one message, no figures); once the folder holds the data, a re-run trains
again what failed or was cancelled and keeps what succeeded, saying which.

The service here is of this module's alone (its own Redis, a SQLite store, one worker),
so no other test's worker takes its jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.env import base_env
from tests.support.processes import run_to_end, start_private_redis, stop_child
from tests.support.service import Service, make_service, migrate

pytestmark = [pytest.mark.service, pytest.mark.slow]

TINY = ["--epochs", "1", "--train-limit", "64", "--test-limit", "100", "--poll-interval", "0.2"]


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("empty-data")


@pytest.fixture(scope="module")
def dataless_service(
    tmp_path_factory: pytest.TempPathFactory, data_folder: Path
) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("dataless")
    redis_log = (root / "redis.log").open("wb")
    redis, redis_url = start_private_redis(root / "redis", output=redis_log)
    running = make_service(
        redis_url=redis_url, database_url=f"sqlite:///{root / 'store.db'}", root=root
    )
    running.env["ADAMLAB_DATA_DIR"] = str(data_folder)
    try:
        migrate(running.env)
        running.start_api()
        running.start_worker("nodata")
        yield running
    finally:
        running.stop()
        stop_child(redis)
        redis_log.close()


def reproduce(server: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = base_env()
    env.pop("ADAMLAB_SERVER", None)
    env.pop("ADAMLAB_API_KEY", None)
    argv = [sys.executable, "-m", "adamlab.cli", "reproduce", "table1", "--server", server]
    return run_to_end([*argv, *TINY, "--out", str(out), *extra], env=env, timeout_s=400)


def experiments(server: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server, timeout=30.0) as http:
        return http.get("/v1/experiments", params={"tag": "table1", "limit": 500}).json()["data"]


def test_a_data_failure_stops_the_command_then_a_rerun_trains_again(
    dataless_service: Service, data_folder: Path, tmp_path: Path
) -> None:
    server = dataless_service.base_url
    failed = reproduce(server, tmp_path / "first")
    assert failed.returncode == 1, failed.stderr[-3000:]
    # One message naming the reason, not one per run; no bar claiming all ended at 100%.
    assert failed.stderr.count("failed before training a step") == 1, failed.stderr
    assert failed.stderr.count("data set files missing") == 1, failed.stderr
    assert "stopped; cancelled the" in failed.stderr
    assert "10/10 ended: 100%" not in failed.stderr
    assert not list((tmp_path / "first").glob("*.png"))
    first = experiments(server)
    assert len(first) == 10
    assert {e["status"] for e in first} <= {"failed", "cancelled"}

    # Fix the folder (the failed download left an empty mnist/): it now holds MNIST.
    shutil.rmtree(data_folder / "mnist", ignore_errors=True)
    (data_folder / "mnist").symlink_to(Path(os.environ["ADAMLAB_DATA_DIR"]) / "mnist")

    lr_only = reproduce(server, tmp_path / "lr", "--models", "lr", "--no-progress")
    assert lr_only.returncode == 0, lr_only.stderr[-3000:]
    for key in ("lr-adam", "lr-adamax"):
        assert f"{key}: training again as " in lr_only.stderr
        assert "(attempt 2; " in lr_only.stderr
    lr_ids = {key: entry["id"] for key, entry in _summary(tmp_path / "lr").items()}

    everything = reproduce(server, tmp_path / "all", "--no-progress")
    assert everything.returncode == 0, everything.stderr[-3000:]
    summary = _summary(tmp_path / "all")
    assert all(entry["status"] == "succeeded" for entry in summary.values())
    for key, entry in summary.items():
        if key in lr_ids:
            assert f"{key}: kept {lr_ids[key]} (succeeded)" in everything.stderr
            assert entry["id"] == lr_ids[key]
        else:
            assert f"{key}: training again as {entry['id']} (attempt 2; " in everything.stderr
    assert len(experiments(server)) == 20  # ten that could not train, ten that did
    for figure in ("adam_vs_adamax.png", "dropout.png"):
        assert (tmp_path / "all" / figure).is_file()


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())
