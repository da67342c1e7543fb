"""The sweep resource's answers, in this process on SQLite and a real PostgreSQL
(tests/support/app.py; the broker replaced by a list of dispatched jobs): create, list,
read, extend, cancel and delete, each refusal a 422 naming the field, another tenant's sweep
the 404 of an unknown id. Sweeps trained by real workers are tests/api/test_sweep_service.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import settings
from tests.factories import sweep_body
from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import Store


@pytest.fixture
def api(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    monkeypatch.setattr(settings, "state_dir", tmp_path / "state")
    with inprocess_api(store, monkeypatch) as running:
        yield running


@pytest.fixture
def alice(api: InProcessApi) -> TestClient:
    return api.client(api.new_key(f"alice-{uuid.uuid4().hex[:8]}"))


def created(client: TestClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    answer = client.post("/v1/sweeps", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def members(client: TestClient, sweep_id: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/experiments", params={"sweep": sweep_id, "limit": 500})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def refused(client: TestClient, body: dict[str, Any], path: str = "/v1/sweeps") -> list[str]:
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    return [error["field"] for error in answer.json()["errors"]]


def test_a_grid_sweep_queues_every_configuration_with_every_seed(
    api: InProcessApi, alice: TestClient
) -> None:
    sweep = created(alice, sweep_body())
    assert sweep["members"] | {} == {
        "total": 8, "planned": 8, "queued": 8, "running": 0, "succeeded": 0, "failed": 0,
        "cancelled": 0, "stopped": 0,
    }  # fmt: skip
    assert sweep["status"] == "running" and sweep["best"] is None
    assert sweep["metric"] == {"name": "test_acc", "goal": "maximize"}
    runs = members(alice, sweep["id"])
    assert len(runs) == 8 and {run["id"] for run in runs} == {e for e, _q in api.dispatched}
    combos = {
        (r["spec"]["optimizer"]["name"], r["spec"]["optimizer"]["lr"], r["spec"]["seed"])
        for r in runs
    }
    assert combos == {
        (o, lr, s) for o in ("adam", "adamax") for lr in (0.01, 0.001) for s in (0, 1)
    }
    # The base as written: AdaMax's members get AdaMax's own defaults, not Adam's.
    adamax = next(r for r in runs if r["spec"]["optimizer"]["name"] == "adamax")
    assert adamax["spec"]["epochs"] == 2 and adamax["spec"]["optimizer"]["betas"] == [0.9, 0.999]
    assert alice.get(f"/v1/sweeps/{sweep['id']}").json()["members"]["total"] == 8
    listed = alice.get("/v1/sweeps").json()
    assert [s["id"] for s in listed["data"]] == [sweep["id"]]


def test_conditional_parameters_apply_only_where_their_condition_holds(alice: TestClient) -> None:
    body = sweep_body(
        parameters={
            "optimizer.name": {"values": ["adam", "sgd"]},
            "optimizer.momentum": {"values": [0.0, 0.9], "when": {"optimizer.name": "sgd"}},
        },
        seeds=1,
    )
    sweep = created(alice, body)
    runs = members(alice, sweep["id"])
    optimizers = sorted(
        (r["spec"]["optimizer"]["name"], r["spec"]["optimizer"].get("momentum")) for r in runs
    )
    assert optimizers == [("adam", None), ("sgd", 0.0), ("sgd", 0.9)]


def test_a_sweep_that_cannot_run_is_422_naming_the_field(alice: TestClient) -> None:
    def fields(**overrides: Any) -> list[str]:
        return refused(alice, sweep_body(**overrides))

    assert fields(parameters={"optimzer.lr": {"values": [0.1]}}) == ["parameters.optimzer.lr"]
    assert fields(parameters={"seed": {"values": [1, 2]}}) == ["parameters.seed"]
    assert fields(parameters={"optimizer.lr": {"values": [0.1, -1.0]}}) == [
        "parameters.optimizer.lr"
    ]
    assert fields(parameters={"model.hidden_sizes": {"values": [[8]]}}) == [
        "parameters.model.hidden_sizes"
    ]
    assert fields(
        parameters={"optimizer.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1}}
    ) == ["parameters.optimizer.lr"]  # a grid with a distribution
    assert fields(method="random") == ["max_members"]
    assert fields(method="random", max_members=1) == ["max_members"]  # fewer than 2 seeds
    assert fields(base={"dataset": {"name": "digits"}}) == ["base.model"]
    assert fields(
        parameters={"optimizer.lr": {"distribution": "log_uniform", "min": 0.0, "max": 1.0}},
        method="random", max_members=4,
    ) == ["parameters.optimizer.lr"]  # fmt: skip
    assert fields(metric={"name": "test_acuracy"}) == ["metric.name"]
    assert fields(early_stopping={"method": "asha", "reduction_factor": 1}) == [
        "early_stopping.reduction_factor"
    ]
    assert fields(seeds=0) == ["seeds"]
    assert fields(group_size=0) == ["group_size"]
    assert fields(group_size=65) == ["group_size"]
    assert fields(group_size="four") == ["group_size"]
    answer = alice.post("/v1/sweeps", json=sweep_body(parameters={"optimzer.lr": {"values": [1]}}))
    assert "did you mean 'optimizer'" in answer.json()["errors"][0]["message"]


def test_cost_limits_apply_to_every_member(
    alice: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "max_steps", 100)
    body = sweep_body(parameters={"epochs": {"values": [1, 50]}}, seeds=1)
    assert refused(alice, body) == ["parameters.epochs"]
    assert refused(alice, sweep_body(base={**sweep_body()["base"], "epochs": 50})) == [
        "base.epochs"
    ]


def test_random_sobol_and_tpe_sample_the_same_for_the_same_sweep_seed(alice: TestClient) -> None:
    for method in ("random", "sobol", "tpe"):
        body = sweep_body(
            parameters={
                "optimizer.name": {"values": ["adam", "adamax"]},
                "optimizer.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
            },
            method=method, max_members=8, parallelism=4, sampler_seed=7,
        )  # fmt: skip

        def sampled(body: dict[str, Any]) -> list[tuple[str, float, int]]:
            runs = members(alice, created(alice, body)["id"])
            return sorted(
                (r["spec"]["optimizer"]["name"], r["spec"]["optimizer"]["lr"], r["spec"]["seed"])
                for r in runs
            )

        first, again = sampled(body), sampled(body)
        other = sampled(body | {"sampler_seed": 8})
        assert first == again, method
        assert first != other, method
        assert len(first) == (4 if method == "tpe" else 8), method
        assert all(1e-4 <= lr <= 1e-1 for _o, lr, _s in first)


def test_extend_adds_seeds_and_values_and_keeps_every_member(
    api: InProcessApi, alice: TestClient
) -> None:
    sweep = created(alice, sweep_body())
    before = {run["id"] for run in members(alice, sweep["id"])}
    answer = alice.post(
        f"/v1/sweeps/{sweep['id']}/extend",
        json={"seeds": 3, "parameters": {"optimizer.lr": {"values": [0.01, 0.001, 0.1]}}},
    )
    assert answer.status_code == 200, answer.text
    extended = answer.json()
    assert extended["added"] == 2 * 3 * 3 - 8
    runs = members(alice, sweep["id"])
    assert before <= {run["id"] for run in runs} and len(runs) == 18
    assert extended["spec"]["seeds"] == 3 and extended["members"]["planned"] == 18
    again = alice.post(f"/v1/sweeps/{sweep['id']}/extend", json={"seeds": 3})
    assert again.json()["added"] == 0
    assert refused(alice, {"seeds": 1}, f"/v1/sweeps/{sweep['id']}/extend") == ["seeds"]
    assert refused(alice, {}, f"/v1/sweeps/{sweep['id']}/extend") == ["body"]


def test_extend_raises_max_members_of_a_sampled_search(alice: TestClient) -> None:
    body = sweep_body(
        parameters={"optimizer.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1}},
        method="random", max_members=4,
    )  # fmt: skip
    sweep = created(alice, body)
    first = {r["spec"]["optimizer"]["lr"] for r in members(alice, sweep["id"])}
    answer = alice.post(f"/v1/sweeps/{sweep['id']}/extend", json={"max_members": 8})
    assert answer.json()["added"] == 4
    after = {r["spec"]["optimizer"]["lr"] for r in members(alice, sweep["id"])}
    assert first < after and len(after) == 4
    assert refused(alice, {"max_members": 2}, f"/v1/sweeps/{sweep['id']}/extend") == ["max_members"]


def test_cancel_ends_every_member_and_delete_removes_them(alice: TestClient) -> None:
    sweep = created(alice, sweep_body())
    answer = alice.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled" and answer.json()["members"]["cancelled"] == 8
    assert {run["status"] for run in members(alice, sweep["id"])} == {"cancelled"}
    assert alice.post(f"/v1/sweeps/{sweep['id']}/cancel").json()["members"]["cancelled"] == 8
    assert alice.post(f"/v1/sweeps/{sweep['id']}/extend", json={"seeds": 3}).status_code == 409
    ids = [run["id"] for run in members(alice, sweep["id"])]
    assert alice.delete(f"/v1/sweeps/{sweep['id']}").status_code == 204
    assert alice.get(f"/v1/sweeps/{sweep['id']}").status_code == 404
    assert all(alice.get(f"/v1/experiments/{i}").status_code == 404 for i in ids)


def test_another_tenants_sweep_is_404_and_unchanged(api: InProcessApi, alice: TestClient) -> None:
    sweep = created(alice, sweep_body())
    bob = api.client(api.new_key(f"bob-{uuid.uuid4().hex[:8]}"))
    for method, path in (
        ("GET", ""), ("POST", "/cancel"), ("DELETE", ""), ("GET", "/report"),
    ):  # fmt: skip
        answer = bob.request(method, f"/v1/sweeps/{sweep['id']}{path}")
        assert answer.status_code == 404, (method, path, answer.text)
    assert bob.post(f"/v1/sweeps/{sweep['id']}/extend", json={"seeds": 3}).status_code == 404
    assert bob.get("/v1/sweeps").json()["data"] == []
    assert members(bob, sweep["id"]) == []
    assert alice.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "running"
    assert alice.get("/v1/sweeps/not-an-id").status_code == 404


def test_an_idempotent_replay_answers_the_same_sweep(alice: TestClient) -> None:
    first = created(alice, sweep_body(), **{"Idempotency-Key": "sweep-1"})
    answer = alice.post("/v1/sweeps", json=sweep_body(), headers={"Idempotency-Key": "sweep-1"})
    assert answer.status_code == 201 and answer.json()["id"] == first["id"]
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert len(members(alice, first["id"])) == 8
    other = alice.post(
        "/v1/sweeps", json=sweep_body(seeds=3), headers={"Idempotency-Key": "sweep-1"}
    )
    assert other.status_code == 409


def test_a_report_before_any_member_ends_lists_them_and_a_bad_target_is_422(
    alice: TestClient,
) -> None:
    sweep = created(alice, sweep_body())
    report = alice.get(f"/v1/sweeps/{sweep['id']}/report").json()
    assert report["counts"]["queued"] == 8 and report["best"] is None
    assert all(c["rank"] is None for c in report["configurations"])
    answer = alice.get(f"/v1/sweeps/{sweep['id']}/report", params={"target": "nan"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "target"
    figure = alice.get(f"/v1/sweeps/{sweep['id']}/report.png")
    assert figure.status_code == 200 and figure.content.startswith(b"\x89PNG")


def test_a_grid_beyond_the_members_limit_is_422_before_it_is_enumerated(
    alice: TestClient,
) -> None:
    values = {"values": [round(0.001 * (i + 1), 6) for i in range(1000)]}
    parameters = {
        "optimizer.lr": values,
        "optimizer.eps": {"values": [1e-8 * (i + 1) for i in range(1000)]},
    }
    parameters |= {"optimizer.weight_decay": {"values": [0.001 * i for i in range(1000)]}}
    assert refused(alice, sweep_body(parameters=parameters)) == ["parameters"]
