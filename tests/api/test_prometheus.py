"""GET /metrics on the keyed API (two uvicorn processes sharing PROMETHEUS_MULTIPROC_DIR):
it parses as Prometheus text, names no tenant or experiment, and its values move with
what happens: experiments by status and queue, queue depth, training speed, request
latencies counted by route template over both processes."""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import digits_body, endless_body
from tests.support.client import finished, poll_experiment
from tests.support.processes import run_to_end
from tests.support.service import KeyedService

pytestmark = [pytest.mark.service, pytest.mark.slow]

# The gpu queue has no worker in the tests: a parked experiment stays queued.
PARKED: dict[str, Any] = digits_body(name="metrics-parked", epochs=1, device="cuda")
# Runs until cancelled: one iteration per example, 200 epochs.
ENDLESS: dict[str, Any] = endless_body(name="metrics-endless")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
LATENCY = "adamlab_http_request_duration_seconds"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str) -> tuple[str, Samples]:
    """The text of GET /metrics (a new connection each time, so either API process may
    answer) and its samples by (name, sorted labels)."""
    response = httpx.get(f"{base_url}/metrics", timeout=30.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_with_every_family_and_no_tenant_detail(
    keyed_service: KeyedService,
) -> None:
    tenant = f"secretive-{uuid.uuid4().hex[:8]}"
    with keyed_service.client(keyed_service.new_key(tenant)) as client:
        response = client.post("/v1/experiments", json=PARKED | {"name": "hush-hush"})
        assert response.status_code == 201, response.text
        experiment_id = response.json()["id"]
        text, samples = scrape(keyed_service.base_url)
        client.post(f"/v1/experiments/{experiment_id}/cancel")
    names = {name for name, _ in samples}
    for family in ("adamlab_experiments", "adamlab_queue_depth", "adamlab_broker_up",
                   "adamlab_training_steps_per_second", f"{LATENCY}_count",
                   f"{LATENCY}_bucket", f"{LATENCY}_sum"):  # fmt: skip
        assert family in names, family
    for status in STATUSES:
        for queue in ("cpu", "gpu"):
            assert ("adamlab_experiments", (("queue", queue), ("status", status))) in samples
    assert value(samples, "adamlab_broker_up") == 1
    assert value(samples, "adamlab_experiments", status="queued", queue="gpu") >= 1
    for secret in (tenant, experiment_id, "hush-hush"):
        assert secret not in text


def test_experiment_counts_and_queue_depth_follow_submissions_and_cancels(
    keyed_service: KeyedService,
) -> None:
    _, before = scrape(keyed_service.base_url)
    with keyed_service.client(keyed_service.new_key(f"counted-{uuid.uuid4().hex[:8]}")) as client:
        ids = []
        for _ in range(2):
            response = client.post("/v1/experiments", json=PARKED)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        _, submitted = scrape(keyed_service.base_url)
        assert client.post(f"/v1/experiments/{ids[0]}/cancel").status_code == 200
        _, cancelled = scrape(keyed_service.base_url)
        client.post(f"/v1/experiments/{ids[1]}/cancel")

    def moved(after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(submitted, "adamlab_experiments", status="queued", queue="gpu") == 2
    assert moved(submitted, "adamlab_queue_depth", queue="gpu") == 2
    assert moved(cancelled, "adamlab_experiments", status="queued", queue="gpu") == 1
    assert moved(cancelled, "adamlab_experiments", status="cancelled", queue="gpu") == 1
    # A cancelled job's message stays in Redis until a worker takes and drops it.
    assert moved(cancelled, "adamlab_queue_depth", queue="gpu") == 2


def test_latency_histogram_counts_each_request_under_its_route_template(
    keyed_service: KeyedService,
) -> None:
    route = ("GET", "/v1/experiments/{experiment_id}")
    key = keyed_service.new_key(f"timed-{uuid.uuid4().hex[:8]}")
    with keyed_service.client(key) as client:
        experiment_id = client.post("/v1/experiments", json=PARKED).json()["id"]
    _, before = scrape(keyed_service.base_url)
    requests = 12
    for _ in range(requests):  # a new connection each: both API processes answer some
        with keyed_service.client(key) as client:
            assert client.get(f"/v1/experiments/{experiment_id}").status_code == 200
    assert httpx.get(f"{keyed_service.base_url}/no/such/{uuid.uuid4()}").status_code == 404
    with keyed_service.client(key) as client:
        client.post(f"/v1/experiments/{experiment_id}/cancel")

    labels = {"method": route[0], "route": route[1]}
    for _ in range(4):  # whichever process answers the scrape reports both processes' counts
        text, after = scrape(keyed_service.base_url)
        assert experiment_id not in text  # the template, never the id
        count = value(after, f"{LATENCY}_count", **labels)
        assert count - value(before, f"{LATENCY}_count", **labels) == requests
        assert value(after, f"{LATENCY}_bucket", le="+Inf", **labels) == count
        assert value(after, f"{LATENCY}_sum", **labels) > value(before, f"{LATENCY}_sum", **labels)
        assert value(after, f"{LATENCY}_count", method="GET", route="unmatched") >= 1


def test_each_scrape_sums_the_latencies_of_every_api_process(keyed_service: KeyedService) -> None:
    """Another process writing to PROMETHEUS_MULTIPROC_DIR (as a third uvicorn worker
    would) shows in the scrape, whichever API process answers it."""
    route = f"/probe/{uuid.uuid4().hex}"
    record = (
        "from api.prometheus import REQUEST_LATENCY\n"
        "for seconds in (0.001, 0.02, 0.3, 4.0, 20.0):\n"
        f"    REQUEST_LATENCY.labels(method='GET', route={route!r}).observe(seconds)\n"
    )
    done = run_to_end([sys.executable, "-c", record], env=keyed_service.api.env, timeout_s=60)
    assert done.returncode == 0, done.stderr
    for _ in range(4):
        _, samples = scrape(keyed_service.base_url)
        assert value(samples, f"{LATENCY}_count", method="GET", route=route) == 5
        assert value(samples, f"{LATENCY}_bucket", method="GET", route=route, le="0.025") == 2
        assert value(samples, f"{LATENCY}_bucket", method="GET", route=route, le="10.0") == 4
        assert value(samples, f"{LATENCY}_sum", method="GET", route=route) == pytest.approx(24.321)


def test_training_speed_is_the_running_experiments_own(keyed_service: KeyedService) -> None:
    with keyed_service.client(keyed_service.new_key(f"speedy-{uuid.uuid4().hex[:8]}")) as client:
        response = client.post("/v1/experiments", json=ENDLESS)
        assert response.status_code == 201, response.text
        experiment_id = response.json()["id"]
        try:
            running = poll_experiment(
                client,
                experiment_id,
                until=lambda e: e["status"] == "running" and e["progress"]["eta_s"],
                timeout_s=120,
            )
            _, samples = scrape(keyed_service.base_url)
            progress = running["progress"]
            own = (progress["total_steps"] - progress["step"]) / progress["eta_s"]
            speed = value(samples, "adamlab_training_steps_per_second")
            # Read a moment apart, and other runs may be going: the same order of magnitude.
            assert speed >= 0.3 * own, (speed, own)
        finally:
            client.post(f"/v1/experiments/{experiment_id}/cancel")
        poll_experiment(client, experiment_id, until=finished, timeout_s=30, interval_s=0.1)
    deadline = time.monotonic() + 10
    while True:
        _, samples = scrape(keyed_service.base_url)
        running_now = sum(
            value(samples, "adamlab_experiments", status="running", queue=queue)
            for queue in ("cpu", "gpu")
        )
        if running_now == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if running_now == 0:  # nothing else started meanwhile
        assert value(samples, "adamlab_training_steps_per_second") == 0
