"""The tests' side of the HTTP API: submitting an experiment, and polling one until it
reaches a state (every wait bounded)."""

from __future__ import annotations

import time
from typing import Any

import httpx


def submit(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v1/experiments", json=body, headers=headers)


def submitted_id(client: httpx.Client, body: dict[str, Any]) -> str:
    response = submit(client, body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def poll_experiment(
    client: httpx.Client,
    experiment_id: str,
    *,
    until: Any,
    timeout_s: float,
    interval_s: float = 0.1,
) -> dict[str, Any]:
    """GET the experiment until ``until(experiment)`` holds; TimeoutError (with the last
    state) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/experiments/{experiment_id}")
        response.raise_for_status()
        experiment = response.json()
        if until(experiment):
            return experiment
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s} s: {experiment}")
        time.sleep(interval_s)


def finished(experiment: dict[str, Any]) -> bool:
    return experiment["status"] in ("succeeded", "failed", "cancelled", "stopped")


def poll_until_epoch(client: httpx.Client, experiment_id: str, epoch: int) -> dict[str, Any]:
    """Poll (every 0.05 s, for 120 s at most) until the experiment has ended or has
    reached ``epoch``; its state then. A test that interrupts the run asserts it is
    still running."""
    return poll_experiment(
        client,
        experiment_id,
        until=lambda e: finished(e) or (e["progress"]["epoch"] or 0) >= epoch,
        timeout_s=120,
        interval_s=0.05,
    )
