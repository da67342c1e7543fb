"""Sweeps on the live service (uvicorn, Celery workers, Redis; PostgreSQL and SQLite): a
grid with seeds runs to the end and says so, its best configuration the one its members'
own metrics make best; ASHA stops the members it should, each saying why; an extension of
a finished sweep keeps every member and runs the new ones; a cancel ends every member; a
worker SIGKILLed mid-sweep still lets every member end."""

from __future__ import annotations

import csv
import io
import statistics
import time
import uuid
from typing import Any

import httpx
import pytest
from scipy.stats import trim_mean

from tests.factories import digits_body, per_example_body, sweep_body
from tests.support.concurrency import at_once
from tests.support.service import KeyedService, Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

TERMINAL = ("succeeded", "failed", "cancelled", "stopped")


@pytest.fixture(params=["postgresql", "sqlite"])
def live(request: pytest.FixtureRequest) -> Service:
    return request.getfixturevalue("service" if request.param == "postgresql" else "sqlite_service")


@pytest.fixture
def http(live: Service) -> httpx.Client:
    with httpx.Client(base_url=live.base_url, timeout=30.0) as client:
        yield client  # type: ignore[misc]


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = http.post("/v1/sweeps", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def members(http: httpx.Client, sweep_id: str) -> list[dict[str, Any]]:
    answer = http.get("/v1/experiments", params={"sweep": sweep_id, "limit": 500})
    answer.raise_for_status()
    return answer.json()["data"]


def wait_for_sweep(
    http: httpx.Client, sweep_id: str, *, status: str = "finished", timeout_s: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] == status:
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s} s: {sweep}")
        time.sleep(0.2)


def test_a_grid_sweep_with_seeds_runs_to_the_end_and_names_its_best(http: httpx.Client) -> None:
    sweep = create(http, sweep_body(name="service-grid", base=digits_body(epochs=2, device="cpu")))
    done = wait_for_sweep(http, sweep["id"])
    assert done["members"]["succeeded"] == 8 and done["progress"]["fraction"] == 1.0
    assert done["finished_at"] is not None
    runs = members(http, sweep["id"])
    assert {run["status"] for run in runs} == {"succeeded"}
    by_config: dict[tuple[str, float], list[float]] = {}
    for run in runs:
        key = (run["spec"]["optimizer"]["name"], run["spec"]["optimizer"]["lr"])
        curve = http.get(f"/v1/experiments/{run['id']}/metrics", params={"name": "test_acc"})
        final = curve.json()["curves"]["test_acc"]["values"][-1]
        assert final == pytest.approx(run["final_metrics"]["test_acc"])
        by_config.setdefault(key, []).append(final)
    medians = {key: statistics.median(values) for key, values in by_config.items()}
    best = max(sorted(medians), key=lambda key: medians[key])
    assert (
        done["best"]["params"]["optimizer.name"],
        done["best"]["params"]["optimizer.lr"],
    ) == best
    assert done["best"]["value"] == pytest.approx(medians[best]) and done["best"]["seeds"] == 2

    # The report's numbers are the members' own: per seed, median, IQM, rank.
    report = http.get(f"/v1/sweeps/{sweep['id']}/report", params={"target": 0.2}).json()
    assert report["metric"] == "test_acc" and report["counts"]["succeeded"] == 8
    ranked = report["configurations"]
    for configuration in ranked:
        key = (configuration["optimizer"], configuration["lr"])
        finals = sorted(m["final"] for m in configuration["members"])
        assert finals == pytest.approx(sorted(by_config[key]))
        assert configuration["median"] == pytest.approx(statistics.median(by_config[key]))
        assert configuration["iqm"] == pytest.approx(float(trim_mean(by_config[key], 0.25)))
        assert configuration["ci_low"] <= configuration["iqm"] <= configuration["ci_high"]
    assert [c["iqm"] for c in ranked] == sorted((c["iqm"] for c in ranked), reverse=True)
    assert [c["rank"] for c in ranked] == [1, 2, 3, 4]
    assert (report["best"]["optimizer"], report["best"]["lr"]) == (
        ranked[0]["optimizer"],
        ranked[0]["lr"],
    )
    assert {(p["optimizer"], len(p["points"])) for p in report["sensitivity"]} == {
        ("adam", 2),
        ("adamax", 2),
    }
    assert all(t["members"] == 2 for t in report["time_to_target"])
    rows = list(csv.DictReader(io.StringIO(http.get(
        f"/v1/sweeps/{sweep['id']}/report", headers={"Accept": "text/csv"}
    ).text)))  # fmt: skip
    assert [float(row["iqm"]) for row in rows] == pytest.approx([c["iqm"] for c in ranked])
    figure = http.get(f"/v1/sweeps/{sweep['id']}/report.png")
    assert figure.status_code == 200 and figure.content.startswith(b"\x89PNG")
    assert http.get(f"/v1/sweeps/{sweep['id']}/report.svg").text.lstrip().startswith("<?xml")


def test_asha_stops_the_worse_members_and_each_says_why(http: httpx.Client) -> None:
    body = sweep_body(
        name="service-asha",
        base=digits_body(epochs=4, device="cpu"),
        # The good rate first: the members that reach a rung first always go on.
        parameters={"optimizer.lr": {"values": [0.05, 1e-6, 2e-6, 3e-6]}},
        seeds=1,
        early_stopping={"method": "asha", "min_epochs": 1, "reduction_factor": 2},
    )
    sweep = create(http, body)
    done = wait_for_sweep(http, sweep["id"])
    runs = {run["spec"]["optimizer"]["lr"]: run for run in members(http, sweep["id"])}
    assert runs[0.05]["status"] == "succeeded"
    stopped = [run for run in runs.values() if run["status"] == "stopped"]
    assert stopped, [run["status"] for run in runs.values()]
    assert done["members"]["stopped"] == len(stopped)
    for run in stopped:
        assert run["spec"]["optimizer"]["lr"] < 1e-5
        assert run["stop_reason"].startswith("asha: test_acc"), run["stop_reason"]
        assert run["progress"]["epoch"] < 4 and run["final_metrics"]["test_acc"] is not None
    assert done["best"]["params"] == {"optimizer.lr": 0.05}


def test_extending_a_finished_sweep_keeps_its_members_and_runs_the_new_ones(
    http: httpx.Client,
) -> None:
    body = sweep_body(
        name="service-extend",
        base=digits_body(epochs=1, device="cpu"),
        parameters={"optimizer.lr": {"values": [0.01]}},
        seeds=1,
    )
    sweep = create(http, body)
    wait_for_sweep(http, sweep["id"])
    before = {run["id"]: run["final_metrics"] for run in members(http, sweep["id"])}
    answer = http.post(
        f"/v1/sweeps/{sweep['id']}/extend",
        json={"seeds": 2, "parameters": {"optimizer.lr": {"values": [0.01, 0.001]}}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["added"] == 3 and answer.json()["status"] == "running"
    done = wait_for_sweep(http, sweep["id"])
    after = {run["id"]: run for run in members(http, sweep["id"])}
    assert set(before) < set(after) and len(after) == 4
    assert all(after[i]["final_metrics"] == before[i] for i in before)
    assert done["members"]["succeeded"] == 4


def test_cancel_ends_every_member(http: httpx.Client) -> None:
    slow = per_example_body(model={"name": "mlp", "hidden_sizes": [32]}, epochs=50, device="cpu")
    sweep = create(http, sweep_body(name="service-cancel", base=slow, seeds=1))
    deadline = time.monotonic() + 60
    while not any(run["status"] == "running" for run in members(http, sweep["id"])):
        assert time.monotonic() < deadline, "no member started"
        time.sleep(0.1)
    answer = http.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while {run["status"] for run in members(http, sweep["id"])} != {"cancelled"}:
        assert time.monotonic() < deadline, [run["status"] for run in members(http, sweep["id"])]
        time.sleep(0.2)


def test_a_worker_killed_mid_sweep_still_lets_every_member_end(
    live: Service, http: httpx.Client
) -> None:
    victim = live.start_worker("sweep-victim")
    body = sweep_body(
        name="service-kill",
        base=per_example_body(model={"name": "mlp", "hidden_sizes": [16]}, epochs=2, device="cpu"),
        seeds=1,
    )
    sweep = create(http, body)
    deadline = time.monotonic() + 60
    while not any(
        run["status"] == "running" and "sweep-victim" in (run["worker"] or "")
        for run in members(http, sweep["id"])
    ):
        assert time.monotonic() < deadline, "the victim worker took no member"
        time.sleep(0.05)
    live.kill_worker(victim)
    done = wait_for_sweep(http, sweep["id"], timeout_s=300)
    runs = members(http, sweep["id"])
    assert all(run["status"] in TERMINAL for run in runs)
    assert done["members"]["succeeded"] == 4, [run["status"] for run in runs]
    assert max(run["attempts"] for run in runs) == 2


def test_a_tpe_search_samples_as_members_end_until_max_members(http: httpx.Client) -> None:
    body = sweep_body(
        name="service-tpe",
        base=digits_body(epochs=1, device="cpu"),
        parameters={
            "optimizer.name": {"values": ["adam", "adamax"]},
            "optimizer.lr": {"distribution": "log_uniform", "min": 1e-3, "max": 1e-1},
        },
        seeds=1, method="tpe", max_members=6, parallelism=2, sampler_seed=3,
    )  # fmt: skip
    sweep = create(http, body)
    assert sweep["members"]["total"] == 2 and sweep["members"]["planned"] == 6
    done = wait_for_sweep(http, sweep["id"])
    assert done["members"]["total"] == 6 and done["members"]["succeeded"] == 6
    configs = {
        (run["spec"]["optimizer"]["name"], run["spec"]["optimizer"]["lr"])
        for run in members(http, sweep["id"])
    }
    assert len(configs) == 6  # no configuration sampled twice


def test_racing_extensions_through_two_api_processes_add_one_round(
    keyed_service: KeyedService,
) -> None:
    owner = keyed_service.client(keyed_service.new_key(f"racer-{uuid.uuid4().hex[:8]}"))
    parked = sweep_body(name="service-race", base=digits_body(device="cuda"), seeds=1)
    with owner:
        sweep = create(owner, parked)
        extend = [
            lambda: owner.post(f"/v1/sweeps/{sweep['id']}/extend", json={"seeds": 2})
            for _ in range(6)
        ]
        answers = at_once(extend)
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        assert sorted(a.json()["added"] for a in answers) == [0] * 5 + [4]
        runs = members(owner, sweep["id"])
        assert len(runs) == 8
        assert (
            len(
                {
                    (
                        r["spec"]["optimizer"]["lr"],
                        r["spec"]["optimizer"]["name"],
                        r["spec"]["seed"],
                    )
                    for r in runs
                }
            )
            == 8
        )
        owner.delete(f"/v1/sweeps/{sweep['id']}")
