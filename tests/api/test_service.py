"""The service end to end over HTTP: a real uvicorn, real Celery worker processes, real
Redis and real PostgreSQL (tests/support/). Experiments are tiny digits runs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import digits_body, endless_body, per_example_body
from tests.support.client import finished, poll_experiment, poll_until_epoch, submit, submitted_id
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

TIMING_METRICS = frozenset({"epoch_time_s", "examples_per_s"})
QUICK: dict[str, Any] = digits_body(
    name="quick", optimizer={"name": "adamax"}, epochs=3, device="cpu"
)
# Runs until cancelled: one iteration per example, 200 epochs.
ENDLESS: dict[str, Any] = endless_body(name="endless", optimizer={"name": "adamax"})
# device "cuda" goes to the gpu queue, which no worker of the tests consumes: it stays
# queued, for the tests of submission and listing that need no run.
PARKED: dict[str, Any] = QUICK | {"name": "parked", "device": "cuda"}


def without_timings(metrics: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in metrics.items() if name not in TIMING_METRICS}


# --- the happy path ---------------------------------------------------------------------------


def test_submitted_experiment_runs_and_its_curves_read_back(client: httpx.Client) -> None:
    response = submit(client, QUICK)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["status"], created["queue"]) == ("queued", "cpu")
    assert response.headers["location"] == f"/v1/experiments/{created['id']}"

    done = poll_experiment(client, created["id"], until=finished, timeout_s=90)
    assert done["status"] == "succeeded", done
    assert done["error"] is None
    assert done["progress"]["epoch"] == done["progress"]["epochs"] == 3
    assert done["progress"]["fraction"] == 1.0
    assert done["progress"]["step"] == done["progress"]["total_steps"] > 0
    timings = done["timings"]
    assert timings["queued_at"] <= timings["started_at"] <= timings["finished_at"]
    assert done["worker"].startswith("worker") and done["device"] == "cpu"
    assert done["attempts"] == 1 and done["resumed_from_epoch"] == 0
    assert {"test_acc", "test_loss", "train_loss"} <= set(done["final_metrics"])
    assert done["checkpoints"] and done["checkpoints"][-1]["epoch"] == 3

    curves = client.get(f"/v1/experiments/{created['id']}/metrics").json()["curves"]
    assert {"batch_loss", "train_loss", "test_acc"} <= set(curves)
    assert curves["test_acc"]["values"][-1] == done["final_metrics"]["test_acc"]
    raw = curves["batch_loss"]
    assert raw["steps"] == list(range(1, done["progress"]["total_steps"] + 1))
    assert not raw["downsampled"]

    small = client.get(
        f"/v1/experiments/{created['id']}/metrics", params={"name": "batch_loss", "max_points": 8}
    ).json()["curves"]["batch_loss"]
    assert small["downsampled"] and len(small["steps"]) <= 8
    assert small["total_points"] == len(raw["steps"])
    assert (small["steps"][0], small["steps"][-1]) == (raw["steps"][0], raw["steps"][-1])
    assert max(small["values"]) == max(raw["values"])
    assert min(small["values"]) == min(raw["values"])

    ranged = client.get(
        f"/v1/experiments/{created['id']}/metrics",
        params={"name": "batch_loss", "step_min": 10, "step_max": 20},
    ).json()["curves"]["batch_loss"]
    assert ranged["steps"] == list(range(10, 21))

    history, cursor = [], None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 25} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/v1/experiments/{created['id']}/metrics/history", params=params)
        assert page.status_code == 200, page.text
        history += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    keys = [(point["step"], point["name"]) for point in history]
    assert keys == sorted(set(keys))
    assert len(history) == sum(len(curve["steps"]) for curve in curves.values())
    batch_history = [point["value"] for point in history if point["name"] == "batch_loss"]
    assert batch_history == raw["values"]


def test_cancel_running_and_queued_jobs(client: httpx.Client) -> None:
    running_id = submitted_id(client, ENDLESS)
    poll_experiment(
        client, running_id, until=lambda e: (e["progress"]["step"] or 0) > 0, timeout_s=90
    )

    # The curves grow while the job runs.
    def points_so_far() -> int:
        curves = client.get(
            f"/v1/experiments/{running_id}/metrics", params={"name": "batch_loss", "max_points": 4}
        ).json()["curves"]
        return curves["batch_loss"]["total_points"] if curves else 0

    first = points_so_far()
    deadline = time.monotonic() + 30
    while points_so_far() <= first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert points_so_far() > first

    # The one worker is busy: the next job waits in the queue, and is cancelled there.
    queued_id = submitted_id(client, QUICK)
    assert client.get(f"/v1/experiments/{queued_id}").json()["status"] == "queued"
    cancelled = client.post(f"/v1/experiments/{queued_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    asked_at = time.monotonic()
    stopping = client.post(f"/v1/experiments/{running_id}/cancel")
    assert stopping.status_code == 202 and stopping.json()["cancel_requested"]
    stopped = poll_experiment(client, running_id, until=finished, timeout_s=10, interval_s=0.05)
    assert stopped["status"] == "cancelled"
    assert time.monotonic() - asked_at < 2.0
    # A repeat after it stopped: it is cancelled, as asked (the same answer as a queued one's).
    assert client.post(f"/v1/experiments/{running_id}/cancel").status_code == 200

    # A job queued after the cancelled one runs; by then the worker has taken the
    # cancelled one's message (the queue is FIFO), which must not have started it.
    after_id = submitted_id(client, QUICK)
    assert poll_experiment(client, after_id, until=finished, timeout_s=90)["status"] == "succeeded"
    never_started = client.get(f"/v1/experiments/{queued_id}").json()
    assert never_started["status"] == "cancelled"
    assert never_started["timings"]["started_at"] is None and never_started["attempts"] == 0


# --- submission -------------------------------------------------------------------------------


def test_idempotent_resubmission_returns_one_experiment(client: httpx.Client) -> None:
    key = str(uuid.uuid4())
    body = PARKED | {"name": f"idempotent-{key}"}
    responses: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            responses.append(submit(own, body, **{"Idempotency-Key": key}))

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    listed = client.get("/v1/experiments", params={"name": body["name"]}).json()
    assert listed["count"] == 1

    conflict = submit(client, body | {"seed": 7}, **{"Idempotency-Key": key})
    assert conflict.status_code == 409
    assert key in conflict.json()["detail"]


BAD_SPECS = [
    pytest.param({k: v for k, v in QUICK.items() if k != "dataset"}, "dataset", id="missing"),
    pytest.param(QUICK | {"optimizer": {"name": "adamx"}}, "optimizer.name", id="unknown-variant"),
    pytest.param(QUICK | {"optimizer": {"lr": 0.1}}, "optimizer.name", id="variant-not-named"),
    pytest.param(QUICK | {"optimizer": {"name": "adam", "lr": -1}}, "optimizer.lr", id="bounds"),
    pytest.param(QUICK | {"epochs": "ten"}, "epochs", id="type"),
    pytest.param(QUICK | {"epochs": 0}, "epochs", id="below-minimum"),
    pytest.param(QUICK | {"model": {"name": "mlp", "width": 3}}, "model.width", id="unknown-field"),
    pytest.param(QUICK | {"colour": "red"}, "colour", id="unknown-top-level-field"),
    pytest.param(
        QUICK | {"optimizer": {"name": "adam", "betas": [0.9]}}, "optimizer.betas.1", id="tuple"
    ),
    pytest.param(QUICK | {"schedule": {"name": "step"}}, "schedule.step_size", id="required"),
    pytest.param(
        QUICK | {"optimizer": {"name": "sgd", "nesterov": True}},
        "optimizer",
        id="cross-field",
    ),
    pytest.param(QUICK | {"model": {"name": "linear_regression"}}, "body", id="model-vs-data"),
    pytest.param(QUICK | {"device": "tpu"}, "device", id="choice"),
    pytest.param(QUICK | {"optimizer": {"name": "adam", "lr": "0.1"}}, "optimizer.lr", id="strict"),
    pytest.param(QUICK | {"epochs": 2.0}, "epochs", id="strict-integer"),
    pytest.param(
        QUICK | {"model": {"name": "mlp", "hidden_sizes": [65536] * 16}},
        "model.hidden_sizes",
        id="parameters-limit",
    ),
    pytest.param(
        QUICK | {"dataset": {"name": "digits", "batch_size": 1}, "epochs": 10000},
        "epochs",
        id="steps-limit",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_SPECS)
def test_bad_spec_is_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = submit(client, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert field in [error["field"] for error in errors]
    assert all(error["message"] for error in errors)
    assert field in response.json()["detail"]


def test_invalid_json_is_422_and_other_bodies_are_refused(client: httpx.Client) -> None:
    broken = client.post(
        "/v1/experiments", content=b'{"dataset": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert "Invalid JSON" in broken.json()["errors"][0]["message"]
    form = client.post("/v1/experiments", data={"dataset": "digits"})
    assert form.status_code == 415
    huge = client.post(
        "/v1/experiments",
        content=b"[" + b"0," * 100_000 + b"0]",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert "ADAMLAB_MAX_BODY_BYTES" in huge.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"["
        for _ in range(100):
            yield b"0," * 1000
        yield b"0]"

    streamed = client.post(
        "/v1/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "ADAMLAB_MAX_BODY_BYTES" in streamed.json()["detail"]


def test_unknown_experiment_is_404(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/experiments/no-such-id"),
        ("POST", "/v1/experiments/no-such-id/cancel"),
        ("GET", "/v1/experiments/no-such-id/metrics"),
        ("GET", "/v1/experiments/no-such-id/metrics/history"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "no-such-id" in response.json()["detail"]


# --- listing, catalog, probes -----------------------------------------------------------------


def test_list_filters_before_paging_and_sorts(client: httpx.Client) -> None:
    tag = f"listing-{uuid.uuid4()}"
    made = {}
    for index, optimizer in enumerate(["adam", "adamax", "adam", "sgd", "adam"]):
        body = PARKED | {"name": f"list-{index}", "tags": [tag], "optimizer": {"name": optimizer}}
        made[submitted_id(client, body)] = body["name"]
    seen, cursor = [], None
    for _ in range(10):
        params: dict[str, Any] = {"tag": tag, "optimizer": "adam", "sort": "-name", "limit": 2}
        page = client.get("/v1/experiments", params=params | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        assert page.json()["count"] == 3
        seen += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [item["name"] for item in seen] == ["list-4", "list-2", "list-0"]
    assert all(item["spec"]["optimizer"]["name"] == "adam" for item in seen)
    assert client.get("/v1/experiments", params={"sort": "colour"}).status_code == 422
    assert client.get("/v1/experiments", params={"cursor": "nonsense"}).status_code == 422
    # device "cuda" routed them to the gpu queue, which no worker here consumes
    queued = client.get("/v1/experiments", params={"tag": tag, "status": "queued"}).json()
    assert queued["count"] == 5
    assert {item["queue"] for item in queued["data"]} == {"gpu"}


def test_catalog_shows_parameters_bounds_and_defaults(client: httpx.Client) -> None:
    catalog = client.get("/v1/catalog").json()
    optimizers = {item["name"]: item for item in catalog["optimizers"]}
    assert {"adam", "adamax", "adamw", "sgd"} <= set(optimizers)
    lr = {param["name"]: param for param in optimizers["adamax"]["params"]}["lr"]
    assert (lr["default"], lr["exclusive_minimum"], lr["type"]) == (0.002, 0.0, "number")
    assert {item["name"] for item in catalog["datasets"]} >= {"digits", "mnist"}
    assert {item["name"] for item in catalog["schedules"]} >= {"constant", "inverse_sqrt"}
    step = {item["name"]: item for item in catalog["schedules"]}["step"]
    assert {param["name"]: param for param in step["params"]}["step_size"]["required"]


def test_probes_and_docs(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready == {"status": "ready", "checks": {"store": "ok", "broker": "ok"}}
    assert client.get("/docs").status_code == 200
    assert "/v1/experiments" in client.get("/openapi.json").json()["paths"]


# --- a worker killed mid-run ------------------------------------------------------------------

RESUMABLE: dict[str, Any] = per_example_body(
    name="resumable",
    model={"name": "mlp", "hidden_sizes": [32]},
    optimizer={"name": "adamax"},
    epochs=10,
    device="cpu",
)


def test_job_of_a_killed_worker_resumes_and_ends_as_if_uninterrupted(
    service: Service, client: httpx.Client
) -> None:
    service.start_worker("worker2")
    reference_id = submitted_id(client, RESUMABLE | {"name": "uninterrupted"})
    victim_id = submitted_id(client, RESUMABLE | {"name": "interrupted"})
    # Both run at once, one per worker; kill the victim's worker after its 2nd checkpoint.
    running = poll_until_epoch(client, victim_id, 3)
    assert running["status"] == "running", "the run ended before it could be interrupted"
    node = running["worker"].split("@")[0]
    service.kill_worker(service.worker_named(node))
    killed_at_step = running["progress"]["step"]

    resumed = poll_experiment(client, victim_id, until=finished, timeout_s=120)
    reference = poll_experiment(client, reference_id, until=finished, timeout_s=120)
    assert (resumed["status"], reference["status"]) == ("succeeded", "succeeded"), resumed
    assert resumed["attempts"] == 2
    assert resumed["resumed_from_epoch"] >= 2
    assert resumed["progress"]["step"] > killed_at_step
    assert without_timings(resumed["final_metrics"]) == without_timings(reference["final_metrics"])

    def curves(experiment_id: str) -> dict[str, Any]:
        found = client.get(f"/v1/experiments/{experiment_id}/metrics").json()["curves"]
        return {
            name: (curve["steps"], curve["values"])
            for name, curve in found.items()
            if name not in TIMING_METRICS
        }

    assert curves(victim_id) == curves(reference_id)
