"""A store outage: PostgreSQL stopped mid-run and started again. Meanwhile the API answers
503 with Retry-After and a sentence (GET, POST, /metrics) on a connection it keeps open;
afterwards it serves again by itself, and the job that ran through the outage succeeds
with the same curves, point for point, as the same spec run without one.

A service of this module's own: a throwaway PostgreSQL (tests/support/throwaway_postgres.py),
a private Redis, the API under uvicorn and a Celery worker, as the suite runs them.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.factories import per_example_body
from tests.support.client import finished, poll_experiment, poll_until_epoch, submitted_id
from tests.support.processes import start_private_redis, stop_child, wait_until
from tests.support.service import Service, make_service, migrate
from tests.support.throwaway_postgres import ThrowawayPostgres, throwaway_postgres

pytestmark = [pytest.mark.service, pytest.mark.slow]

TIMING_METRICS = frozenset({"epoch_time_s", "examples_per_s"})
# One example per iteration, 4 epochs: seconds each, so the outage falls mid-run.
RUN: dict[str, Any] = per_example_body(
    model={"name": "mlp", "hidden_sizes": [32]},
    optimizer={"name": "adam", "lr": 0.001},
    epochs=4,
    device="cpu",
)
OUTAGE_S = 5.0
"""Longer than the service's heartbeat timeout (3 s, tests/support/env.py): a job must
not be taken from its worker for heartbeats it could not write."""


@dataclass
class OutageService:
    service: Service
    postgres: ThrowawayPostgres

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.service.base_url, timeout=30.0)


@pytest.fixture(scope="module")
def outage_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OutageService]:
    root = tmp_path_factory.mktemp("store-outage")
    with throwaway_postgres() as postgres:
        (root / "redis").mkdir()
        redis, redis_url = start_private_redis(
            root / "redis", output=(root / "redis" / "redis.log").open("wb")
        )
        service = make_service(redis_url=redis_url, database_url=postgres.url, root=root)
        try:
            migrate(service.env)
            service.start_api()
            service.start_worker("outage-worker")
            yield OutageService(service=service, postgres=postgres)
        finally:
            failed = request.session.testsfailed
            service.stop()
            stop_child(redis)
            if failed:
                print(f"\nservice logs ({service.log_dir}):\n{service.log_tails(80)}")


def curves(client: httpx.Client, experiment_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/experiments/{experiment_id}/metrics")
    response.raise_for_status()
    return {
        name: (curve["steps"], curve["values"])
        for name, curve in response.json()["curves"].items()
        if name not in TIMING_METRICS
    }


def two_requests_on_one_connection(
    base_url: str, method: str, path: str, body: dict[str, Any] | None = None
) -> list[tuple[int, dict[str, str], Any]]:
    """Send the request twice over one kept-alive connection: (status, headers, JSON body)
    of each. Fails if the server closed the connection after the first answer."""
    url = urlsplit(base_url)
    assert url.hostname and url.port
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    payload = json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    answers = []
    try:
        connection.request(method, path, body=payload, headers=headers)
        first = connection.getresponse()
        answers.append((first.status, dict(first.getheaders()), json.loads(first.read())))
        socket = connection.sock
        assert socket is not None, "the server closed the connection after its answer"
        connection.request(method, path, body=payload, headers=headers)
        second = connection.getresponse()
        answers.append((second.status, dict(second.getheaders()), json.loads(second.read())))
        assert connection.sock is socket, "the second request needed a new connection"
    finally:
        connection.close()
    return answers


def assert_store_unavailable(answer: tuple[int, dict[str, str], Any]) -> None:
    status, headers, body = answer
    assert status == 503, (status, body)
    assert int(headers["retry-after"]) > 0, headers
    assert set(body) == {"detail"}, body
    assert "store" in body["detail"] and "Try again" in body["detail"], body


def test_store_outage_is_503_and_the_run_through_it_loses_nothing(
    outage_service: OutageService,
) -> None:
    base_url = outage_service.service.base_url
    postgres = outage_service.postgres
    with outage_service.client() as client:
        reference_id = submitted_id(client, RUN | {"name": "no-outage"})
        reference = poll_experiment(client, reference_id, until=finished, timeout_s=180)
        assert reference["status"] == "succeeded", reference

        victim_id = submitted_id(client, RUN | {"name": "through-an-outage"})
        running = poll_until_epoch(client, victim_id, 1)
        assert running["status"] == "running", "the run ended before the outage"

        postgres.stop()
        stopped_at = time.monotonic()
        try:
            for method, path, body in (
                ("GET", f"/v1/experiments/{victim_id}", None),
                ("GET", "/v1/experiments", None),
                ("POST", "/v1/experiments", RUN | {"name": "during-the-outage"}),
                ("GET", "/metrics", None),
            ):
                for answer in two_requests_on_one_connection(base_url, method, path, body):
                    assert_store_unavailable(answer)
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["store"].startswith("unreachable"), ready.json()
            assert time.monotonic() - stopped_at < OUTAGE_S, "the 503s were slow to come"
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        finally:
            postgres.start()

        # The same API process serves again by itself.
        wait_until(
            lambda: client.get(f"/v1/experiments/{victim_id}").status_code == 200,
            timeout_s=30,
            what="the API answering 200 after the store came back",
        )
        assert client.get("/metrics").status_code == 200
        survived = poll_experiment(client, victim_id, until=finished, timeout_s=180)
        assert survived["status"] == "succeeded", survived
        assert survived["attempts"] == 1, "the job was taken from its worker"
        assert survived["resumed_from_epoch"] == reference["resumed_from_epoch"], survived

        expected = curves(client, reference_id)
        got = curves(client, victim_id)
        assert {name: len(steps) for name, (steps, _) in got.items()} == {
            name: len(steps) for name, (steps, _) in expected.items()
        }, "points were lost"
        assert got == expected
        # (device cuda: the gpu queue, which no worker here consumes; it stays queued.)
        after = client.post("/v1/experiments", json=RUN | {"name": "after", "device": "cuda"})
        assert after.status_code == 201, after.text
