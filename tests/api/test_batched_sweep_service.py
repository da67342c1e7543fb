"""Batched sweeps on the live service (uvicorn, a Celery worker, Redis, PostgreSQL): a sweep
whose members train as one stacked model stores, for each member, the curves its solo run
(``group_size: 1``) stores; one member of a running group cancelled ends alone while its
mates go on; a group whose worker is SIGKILLed resumes from its members' checkpoints and
ends with exactly the curves of a group never killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.factories import digits_body, per_example_body, sweep_body
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

LOSS_RTOL = 1e-4
"""A grouped member's per-iteration loss against its solo run's (docs/sweeps.md)."""
COMPARED_ITERATIONS = 200


@pytest.fixture
def http(service: Service) -> httpx.Client:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as client:
        yield client  # type: ignore[misc]


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = http.post("/v1/sweeps", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def members(http: httpx.Client, sweep_id: str) -> list[dict[str, Any]]:
    answer = http.get("/v1/experiments", params={"sweep": sweep_id, "limit": 500})
    answer.raise_for_status()
    return answer.json()["data"]


def wait_for_sweep(http: httpx.Client, sweep_id: str, *, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while (sweep := http.get(f"/v1/sweeps/{sweep_id}").json())["status"] != "finished":
        assert time.monotonic() < deadline, sweep
        time.sleep(0.2)


def by_member(http: httpx.Client, sweep_id: str) -> dict[tuple[str, float, int], dict[str, Any]]:
    """The sweep's members by (optimizer, lr, seed): what is the same across two sweeps."""
    return {
        (run["spec"]["optimizer"]["name"], run["spec"]["optimizer"]["lr"], run["spec"]["seed"]): run
        for run in members(http, sweep_id)
    }


def curve(http: httpx.Client, experiment_id: str, name: str) -> list[float]:
    answer = http.get(f"/v1/experiments/{experiment_id}/metrics", params={"name": name})
    answer.raise_for_status()
    return answer.json()["curves"][name]["values"]


def log_of(http: httpx.Client, experiment_id: str) -> str:
    answer = http.get(f"/v1/experiments/{experiment_id}/logs")
    answer.raise_for_status()
    return answer.text


def test_grouped_members_store_the_curves_of_their_solo_runs(http: httpx.Client) -> None:
    body = sweep_body(
        name="batched-vs-solo",
        base=digits_body(epochs=2, device="cpu", dataset={"name": "digits", "batch_size": 16}),
    )
    grouped = create(http, body | {"group_size": 4})
    solo = create(http, body | {"group_size": 1})
    wait_for_sweep(http, grouped["id"])
    wait_for_sweep(http, solo["id"])
    grouped_runs, solo_runs = by_member(http, grouped["id"]), by_member(http, solo["id"])
    assert len(grouped_runs) == 8 and grouped_runs.keys() == solo_runs.keys()
    for key, run in grouped_runs.items():
        alone = solo_runs[key]
        assert run["status"] == alone["status"] == "succeeded", (key, run["error"])
        assert "group mates as one stack" in log_of(http, run["id"])
        assert "group mates" not in log_of(http, alone["id"])
        losses, solo_losses = (
            curve(http, run["id"], "batch_loss"),
            curve(http, alone["id"], "batch_loss"),
        )
        assert len(losses) == len(solo_losses)
        first = slice(0, COMPARED_ITERATIONS)
        assert losses[first] == pytest.approx(solo_losses[first], rel=LOSS_RTOL), key
        assert (
            100 * abs(run["final_metrics"]["test_acc"] - alone["final_metrics"]["test_acc"]) <= 0.1
        )
        assert [p for p in run["final_metrics"]] == [p for p in alone["final_metrics"]]


def test_a_cancelled_member_leaves_its_group_and_its_mates_go_on(http: httpx.Client) -> None:
    slow = per_example_body(model={"name": "mlp", "hidden_sizes": [32]}, epochs=50, device="cpu")
    body = sweep_body(
        name="batched-cancel",
        base=slow,
        parameters={"optimizer.lr": {"values": [0.001]}},
        seeds=3,
        group_size=3,
    )
    sweep = create(http, body)
    deadline = time.monotonic() + 90
    while True:
        running = members(http, sweep["id"])
        if all(r["status"] == "running" and (r["progress"] or {}).get("step") for r in running):
            break
        assert time.monotonic() < deadline, [(r["status"], r["progress"]) for r in running]
        time.sleep(0.1)
    victim, *mates = members(http, sweep["id"])
    assert len({run["worker"] for run in members(http, sweep["id"])}) == 1  # one stack
    answer = http.post(f"/v1/experiments/{victim['id']}/cancel")
    assert answer.status_code in (200, 202), answer.text
    deadline = time.monotonic() + 30
    while http.get(f"/v1/experiments/{victim['id']}").json()["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    steps_then = {
        m["id"]: http.get(f"/v1/experiments/{m['id']}").json()["progress"]["step"] for m in mates
    }
    time.sleep(2.0)
    for mate in mates:
        now = http.get(f"/v1/experiments/{mate['id']}").json()
        assert now["status"] == "running", now
        assert now["progress"]["step"] > steps_then[mate["id"]]
    assert "stopped after step" in log_of(http, victim["id"])
    http.post(f"/v1/sweeps/{sweep['id']}/cancel").raise_for_status()


@contextmanager
def paused(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """The worker's whole process group stopped (SIGSTOP) while the block runs: it takes
    no message, so another worker takes every member of a group."""
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def test_a_killed_group_resumes_with_the_curves_of_a_group_never_killed(
    service: Service, http: httpx.Client
) -> None:
    body = sweep_body(
        name="batched-kill",
        base=per_example_body(epochs=3, device="cpu"),
        parameters={"optimizer.lr": {"values": [0.01, 0.001]}},
        seeds=1,
        group_size=2,
    )
    victim = service.start_worker("group-victim")
    with paused(service.worker_named("worker1")):
        killed = create(http, body | {"name": "batched-killed"})
        deadline = time.monotonic() + 120
        while True:
            runs = members(http, killed["id"])
            if all(
                r["status"] == "running"
                and "group-victim" in (r["worker"] or "")
                and ((r["progress"] or {}).get("epoch") or 0) >= 2
                for r in runs
            ):
                break
            assert time.monotonic() < deadline, [(r["status"], r["worker"]) for r in runs]
            time.sleep(0.05)
    service.kill_worker(victim)
    wait_for_sweep(http, killed["id"])
    never_killed = create(http, body | {"name": "batched-never-killed"})
    wait_for_sweep(http, never_killed["id"])
    resumed, reference = by_member(http, killed["id"]), by_member(http, never_killed["id"])
    assert resumed.keys() == reference.keys() and len(resumed) == 2
    for key, again in resumed.items():
        assert again["status"] == "succeeded" and again["attempts"] == 2, again
        assert again["resumed_from_epoch"] >= 1
        assert "1 group mates as one stack" in log_of(http, again["id"])
        for name in ("batch_loss", "train_loss", "test_acc"):
            assert curve(http, again["id"], name) == curve(http, reference[key]["id"], name), name


def test_a_group_whose_worker_stops_cleanly_is_handed_back_and_ends_elsewhere(
    service: Service, http: httpx.Client
) -> None:
    body = sweep_body(
        name="batched-hand-back",
        base=per_example_body(epochs=4, device="cpu"),
        parameters={"optimizer.lr": {"values": [0.02, 0.01, 0.005, 0.001]}},
        seeds=1,
        group_size=4,
    )
    service.start_worker("group-stopper")
    sweep = create(http, body)
    deadline = time.monotonic() + 120
    while True:
        runs = members(http, sweep["id"])
        if all(((r["progress"] or {}).get("epoch") or 0) >= 2 for r in runs):
            break
        assert time.monotonic() < deadline, [(r["status"], r["worker"]) for r in runs]
        time.sleep(0.05)
    # Two idle workers may each claim part of the group; the one with two or more members
    # stops, so that a mate (whose own message the claim took) is handed back too.
    by_worker: dict[str, list[str]] = {}
    for run in runs:
        by_worker.setdefault(run["worker"].split("@")[0], []).append(run["id"])
    name = max(by_worker, key=lambda n: len(by_worker[n]))
    assert len(by_worker[name]) >= 2, by_worker
    stopped = service.worker_named(name)
    os.kill(stopped.pid, signal.SIGTERM)  # a warm shutdown: its members are handed back
    stopped.wait(timeout=60)
    service.workers.remove(stopped)
    if name == "worker1":
        service.start_worker("worker1")  # the session's worker, for the tests after this one
    try:
        wait_for_sweep(http, sweep["id"])
    finally:
        if name != "group-stopper":  # the tests after this one count on one worker
            service.kill_worker(service.worker_named("group-stopper"))
    wait_for_sweep(http, sweep["id"])
    for run in members(http, sweep["id"]):
        assert run["status"] == "succeeded", run
        if run["id"] in by_worker[name]:
            assert run["resumed_from_epoch"] >= 1 and not run["worker"].startswith(f"{name}@")
