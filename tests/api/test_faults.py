"""Faults on real servers, each on a service of this module's own: a throwaway
redis-server (append-only file, fsync at every write) on a free port, a PostgreSQL
database of its own, the API and a Celery worker. Redis killed with jobs queued and
restarted from its file loses none; a worker stopped cleanly hands its job back, and the
next worker resumes it at once, ending with the curves of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import digits_body, per_example_body
from tests.support.client import finished, poll_experiment, poll_until_epoch, submitted_id
from tests.support.postgres import POSTGRES_TEST_DATABASE, postgres_database, postgres_server
from tests.support.processes import free_port, stop_child
from tests.support.redis import start_throwaway_redis
from tests.support.service import Service, make_service, migrate

pytestmark = [pytest.mark.service, pytest.mark.slow]

TIMING_METRICS = frozenset({"epoch_time_s", "examples_per_s"})
# Production's heartbeat timeout, not the shared service's 3 s: a job that is not handed
# back waits this long before another worker may take it.
FAULT_SETTINGS = {"ADAMLAB_HEARTBEAT_TIMEOUT_S": "30"}
RESUME_WITHIN_S = 2.0

QUICK: dict[str, Any] = digits_body(name="fault-quick", epochs=2, device="cpu")
# An epoch of seconds (one example per iteration), so the stop lands mid-run.
RESUMABLE: dict[str, Any] = per_example_body(
    name="fault-resumable",
    model={"name": "mlp", "hidden_sizes": [16]},
    optimizer={"name": "adamax"},
    epochs=4,
    device="cpu",
)


@dataclass
class FaultService:
    service: Service
    redis: subprocess.Popen[bytes]
    redis_dir: Path
    redis_port: int
    client: httpx.Client

    def kill_redis(self) -> None:
        stop_child(self.redis, first_signal=signal.SIGKILL)

    def restart_redis(self) -> None:
        self.redis = start_throwaway_redis(self.redis_dir, port=self.redis_port)


@pytest.fixture(scope="module")
def faults(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultService]:
    root = tmp_path_factory.mktemp("faults")
    port = free_port()
    redis = start_throwaway_redis(root / "redis", port=port)
    running: FaultService | None = None
    try:
        with (
            postgres_server(root / "pgdata") as admin_url,
            postgres_database(admin_url, f"{POSTGRES_TEST_DATABASE}_faults") as database_url,
        ):
            service = make_service(
                redis_url=f"redis://127.0.0.1:{port}/0", database_url=database_url, root=root
            )
            service.env |= FAULT_SETTINGS
            try:
                migrate(service.env)
                service.start_api()
                service.start_worker("faultworker1")
                with httpx.Client(base_url=service.base_url, timeout=30.0) as client:
                    running = FaultService(service, redis, root / "redis", port, client)
                    yield running
            finally:
                service.stop()
                if request.session.testsfailed:
                    print(f"\nfault service logs:\n{service.log_tails()}")
    finally:
        stop_child(running.redis if running else redis)


def curves(client: httpx.Client, experiment_id: str) -> dict[str, Any]:
    found = client.get(f"/v1/experiments/{experiment_id}/metrics").json()["curves"]
    return {
        name: (curve["steps"], curve["values"])
        for name, curve in found.items()
        if name not in TIMING_METRICS
    }


def test_clean_worker_restart_resumes_the_job_at_once(faults: FaultService) -> None:
    service, client = faults.service, faults.client
    victim_id = submitted_id(client, RESUMABLE | {"name": "restarted"})
    running = poll_until_epoch(client, victim_id, 2)
    assert running["status"] == "running", "the run ended before it could be interrupted"
    old = service.worker_named("faultworker1")

    # SIGTERM to the worker's main process alone, as `docker stop` or a service manager
    # sends it: a warm shutdown, passed on to the pool child that runs the job.
    signalled_at = time.monotonic()
    os.kill(old.pid, signal.SIGTERM)
    handed_back = poll_experiment(
        client, victim_id, until=lambda e: e["status"] != "running", timeout_s=20, interval_s=0.02
    )
    hand_back_s = time.monotonic() - signalled_at
    assert handed_back["status"] == "queued", handed_back
    assert handed_back["timings"]["heartbeat_at"] is None and handed_back["worker"] is None
    old.wait(timeout=30)
    stopped_s = time.monotonic() - signalled_at
    service.workers.remove(old)

    started_at = time.monotonic()
    service.start_worker("faultworker2")
    ready_at = time.monotonic()
    resumed = poll_experiment(
        client,
        victim_id,
        until=lambda e: e["status"] != "queued",
        timeout_s=60,
        interval_s=0.02,
    )
    resumed_at = time.monotonic()
    assert resumed["status"] in ("running", "succeeded"), resumed
    assert resumed["worker"].startswith("faultworker2")
    print(
        f"\nclean restart: handed back {hand_back_s:.2f} s after SIGTERM, old worker exited "
        f"after {stopped_s:.2f} s; new worker ready {ready_at - started_at:.2f} s after its "
        f"start; job running again {resumed_at - ready_at:.2f} s after it was ready "
        f"({resumed_at - started_at:.2f} s after its start)"
    )
    assert resumed_at - ready_at < RESUME_WITHIN_S

    done = poll_experiment(client, victim_id, until=finished, timeout_s=180)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 1 and done["resumed_from_epoch"] >= 1
    reference_id = submitted_id(client, RESUMABLE | {"name": "uninterrupted"})
    reference = poll_experiment(client, reference_id, until=finished, timeout_s=180)
    assert reference["status"] == "succeeded", reference

    def without_timings(metrics: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in metrics.items() if name not in TIMING_METRICS}

    assert without_timings(done["final_metrics"]) == without_timings(reference["final_metrics"])
    assert curves(client, victim_id) == curves(client, reference_id)


def test_redis_killed_with_jobs_queued_loses_none(faults: FaultService) -> None:
    client = faults.client
    ids = [submitted_id(client, QUICK | {"name": f"redis-killed-{n}"}) for n in range(8)]
    faults.kill_redis()  # SIGKILL: no chance to write anything more
    waiting = [
        experiment_id
        for experiment_id in ids
        if client.get(f"/v1/experiments/{experiment_id}").json()["status"] == "queued"
    ]
    assert waiting, "every job had started before Redis died: nothing was at risk"
    time.sleep(1.0)
    restarted_at = time.monotonic()
    faults.restart_redis()  # the same port and folder: it reads its append-only file
    ended = [
        poll_experiment(client, experiment_id, until=finished, timeout_s=180)
        for experiment_id in ids
    ]
    print(
        f"\nRedis killed with {len(waiting)} of {len(ids)} jobs queued: all {len(ids)} ended "
        f"{time.monotonic() - restarted_at:.1f} s after its restart"
    )
    assert [experiment["status"] for experiment in ended] == ["succeeded"] * len(ids), ended


def test_queued_experiment_without_a_worker_says_so_then_fails(
    faults: FaultService, tmp_path: Path
) -> None:
    # A second API on the same store and Redis, whose reaper gives up after 3 s.
    api = Service(
        base_url=f"http://127.0.0.1:{free_port()}",
        env=faults.service.env | {"ADAMLAB_NO_WORKER_TIMEOUT_S": "3"},
        state_dir=faults.service.state_dir,
        log_dir=tmp_path,
    )
    try:
        api.start_api()
        with httpx.Client(base_url=api.base_url, timeout=30.0) as client:
            served = client.post("/v1/experiments", json=QUICK | {"name": "has-a-worker"})
            assert served.status_code == 201 and served.json()["no_worker"] is None
            created = client.post(
                "/v1/experiments", json=QUICK | {"name": "no-gpu", "device": "cuda"}
            )
            assert created.status_code == 201, created.text
            experiment = created.json()
            assert experiment["no_worker"]["queue"] == "gpu"
            assert experiment["no_worker"]["since"] >= experiment["timings"]["queued_at"]
            read = client.get(f"/v1/experiments/{experiment['id']}").json()
            assert (read["status"], read["no_worker"]) == ("queued", experiment["no_worker"])
            listed = client.get("/v1/experiments", params={"name": "no-gpu"}).json()["data"]
            assert [item["no_worker"] for item in listed] == [experiment["no_worker"]]

            submitted_at = time.monotonic()
            failed = poll_experiment(client, experiment["id"], until=finished, timeout_s=30)
            waited_s = time.monotonic() - submitted_at
            assert failed["status"] == "failed", failed
            assert (
                "queue 'gpu'" in failed["error"]
                and "ADAMLAB_NO_WORKER_TIMEOUT_S" in failed["error"]
            )
            assert failed["no_worker"] is None
            assert 2.5 < waited_s < 15, waited_s
            served_now = client.get(f"/v1/experiments/{served.json()['id']}").json()
            assert served_now["status"] != "failed", served_now
    finally:
        api.stop()
