"""Run management on the live service (uvicorn, a Celery worker, Redis, PostgreSQL):
DELETE of a finished, a queued and a running experiment leaves no row and no file of it,
a running one's worker stops and goes on to the next job without an error; PATCH of a
running experiment; another tenant's id is 404 on both (the keyed API)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.factories import digits_body, endless_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.service import KeyedService, Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

QUICK: dict[str, Any] = digits_body(name="manage-quick", tags=["manage"], epochs=2, device="cpu")
# An iteration per example for 200 epochs: runs until it is stopped.
ENDLESS: dict[str, Any] = endless_body(name="manage-endless")
# The gpu queue has no worker in the tests: a parked experiment stays queued.
PARKED: dict[str, Any] = QUICK | {"name": "manage-parked", "device": "cuda"}


@pytest.fixture(scope="module")
def store(service: Service) -> Iterator[Engine]:
    """The service's store, read directly: what a delete leaves in each table."""
    from core.store.session import make_engine

    engine = make_engine(service.env["DATABASE_URL"])
    yield engine
    engine.dispose()


def rows_of(store: Engine, experiment_id: str) -> dict[str, int]:
    from core.store.models import CheckpointRow, ExperimentRow, ExperimentTagRow, MetricPointRow

    counts = {}
    with store.connect() as connection:
        counts["experiments"] = connection.scalar(
            select(func.count()).where(ExperimentRow.id == experiment_id)
        )
        for table in (MetricPointRow, CheckpointRow, ExperimentTagRow):
            counts[table.__tablename__] = connection.scalar(
                select(func.count()).where(table.experiment_id == experiment_id)
            )
    return counts


NOTHING = {"experiments": 0, "metric_points": 0, "checkpoints": 0, "experiment_tags": 0}


def folder_of(service: Service, experiment_id: str) -> Path:
    return service.state_dir / "checkpoints" / experiment_id


def worker_log(service: Service) -> Path:
    return service.log_dir / "worker1.log"


def deleted(client: httpx.Client, experiment_id: str) -> None:
    response = client.delete(f"/v1/experiments/{experiment_id}")
    assert (response.status_code, response.content) == (204, b""), response.text


def assert_gone(client: httpx.Client, experiment_id: str) -> None:
    for method, suffix in [("GET", ""), ("DELETE", ""), ("GET", "/metrics"), ("GET", "/logs")]:
        response = client.request(method, f"/v1/experiments/{experiment_id}{suffix}")
        assert response.status_code == 404, (method, suffix, response.text)


def test_delete_a_finished_run_removes_its_rows_and_its_folder(
    client: httpx.Client, service: Service, store: Engine
) -> None:
    experiment_id = submitted_id(client, QUICK)
    done = poll_experiment(client, experiment_id, until=finished, timeout_s=120)
    assert done["status"] == "succeeded", done
    folder = folder_of(service, experiment_id)
    assert (folder / "final.safetensors").is_file() and (folder / "run.log").is_file()
    before = rows_of(store, experiment_id)
    assert before["metric_points"] > 0 and before["checkpoints"] > 0, before
    assert before["experiment_tags"] == 1

    deleted(client, experiment_id)
    assert_gone(client, experiment_id)
    assert not folder.exists()
    assert rows_of(store, experiment_id) == NOTHING


def test_delete_a_queued_run_and_a_running_one_and_the_worker_goes_on(
    client: httpx.Client, service: Service, store: Engine
) -> None:
    """One worker process: the running job holds it, the queued one waits behind it.
    Both are deleted; the next job then runs at once (the running one stopped), after the
    queued one's message was taken and dropped (the queue is first in, first out)."""
    log = worker_log(service)
    log_start = log.stat().st_size
    running_id = submitted_id(client, ENDLESS)
    poll_experiment(
        client,
        running_id,
        until=lambda e: (e["progress"]["epoch"] or 0) >= 2,
        timeout_s=180,
        interval_s=0.2,
    )
    assert any(folder_of(service, running_id).glob("epoch-*.pt"))
    queued_id = submitted_id(client, QUICK | {"name": "manage-waiting"})
    assert client.get(f"/v1/experiments/{queued_id}").json()["status"] == "queued"

    deleted(client, queued_id)
    deleted(client, running_id)
    asked_at = time.monotonic()
    assert_gone(client, queued_id)
    assert_gone(client, running_id)
    assert rows_of(store, queued_id) == NOTHING

    next_id = submitted_id(client, QUICK | {"name": "manage-next"})
    after = poll_experiment(client, next_id, until=finished, timeout_s=120)
    assert after["status"] == "succeeded", after
    assert after["final_metrics"] and after["attempts"] == 1, after
    assert after["timings"]["started_at"] is not None
    # The worker took the next job soon after the delete (the endless run would hold it
    # for many minutes): it stopped at a heartbeat.
    assert time.monotonic() - asked_at < 60
    for experiment_id in (running_id, queued_id):
        assert not folder_of(service, experiment_id).exists(), experiment_id
        assert rows_of(store, experiment_id) == NOTHING, experiment_id
    written = log.read_text(errors="replace")[log_start:]
    assert "ERROR" not in written and "Traceback" not in written, written[-3000:]


def test_patch_a_running_run_and_it_ends_as_edited(client: httpx.Client) -> None:
    longer = QUICK | {"name": "manage-later", "dataset": {"name": "digits", "batch_size": 4}}
    experiment_id = submitted_id(client, longer | {"epochs": 4})
    started = poll_experiment(
        client,
        experiment_id,
        until=lambda e: e["status"] != "queued",
        timeout_s=120,
        interval_s=0.05,
    )
    assert started["status"] == "running", started
    response = client.patch(
        f"/v1/experiments/{experiment_id}",
        json={"name": "renamed", "tags": ["edited"], "note": "renamed\nwhile it ran"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("running", "succeeded")
    done = poll_experiment(client, experiment_id, until=finished, timeout_s=120)
    assert done["status"] == "succeeded", done
    assert (done["name"], done["tags"], done["note"]) == (
        "renamed",
        ["edited"],
        "renamed\nwhile it ran",
    )
    listed = client.get("/v1/experiments", params={"tag": "edited"}).json()
    assert experiment_id in [row["id"] for row in listed["data"]]
    deleted(client, experiment_id)


def test_another_tenants_delete_and_patch_are_404_and_change_nothing(
    keyed_service: KeyedService, service: Service
) -> None:
    owner = keyed_service.client(keyed_service.new_key(f"owner-{uuid.uuid4().hex[:8]}"))
    other = keyed_service.client(keyed_service.new_key(f"other-{uuid.uuid4().hex[:8]}"))
    with owner, other:
        done_id = submitted_id(owner, QUICK)
        parked_id = submitted_id(owner, PARKED)
        assert poll_experiment(owner, done_id, until=finished, timeout_s=120)["status"] == (
            "succeeded"
        )
        for experiment_id in (done_id, parked_id):
            url = f"/v1/experiments/{experiment_id}"
            assert other.delete(url).status_code == 404
            assert other.patch(url, json={"name": "taken"}).status_code == 404
            shown = owner.get(url).json()
            assert shown["name"] in (QUICK["name"], PARKED["name"]), shown
        assert folder_of(service, done_id).is_dir()
        for experiment_id in (done_id, parked_id):
            deleted(owner, experiment_id)
            assert_gone(owner, experiment_id)
        assert not folder_of(service, done_id).exists()
