"""What the API takes for a test problem of the playground (the app in this process, keys
required, on SQLite and PostgreSQL): a spec of an unknown function, a start of the wrong
length or out of Reddi's bounds, a negative noise, a curvature ratio for another function
than the canyon or a model that does not fit is a 422 naming the field; a good one is
accepted, and its trajectory is a 409 until it has a step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import Store


@pytest.fixture
def api(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    with inprocess_api(store, monkeypatch) as running:
        yield running


@pytest.fixture
def alice(api: InProcessApi) -> TestClient:
    return api.client(api.new_key(f"alice-{uuid.uuid4().hex[:8]}"))


def assert_invalid(response: Any, *, location: str, field: str) -> None:
    """A 422 naming ``field`` (and only in ``location``), as tests/api/test_input.py checks."""
    assert response.status_code == 422, (response.request.url, response.text)
    named = [
        (error["location"], error["field"])
        for error in response.json()["errors"]
        if error["field"] == field or error["field"].startswith(f"{field}.")
    ]
    assert named and all(where == location for where, _ in named), response.json()


def problem_body(dataset: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"dataset": dataset, "model": {"name": "point"}} | fields


RATIO = "dataset.curvature_ratio"


@pytest.mark.parametrize(
    ("dataset", "field"),
    [
        ({"name": "function", "function": "ackley"}, "dataset.function"),
        ({"name": "function", "start": [1.0, 2.0, 3.0]}, "dataset.start"),
        ({"name": "function", "start": [1.0]}, "dataset.start"),
        ({"name": "function", "noise": -0.1}, "dataset.noise"),
        ({"name": "function", "function": "beale", "curvature_ratio": 10}, RATIO),
        ({"name": "function", "function": "canyon", "curvature_ratio": 0.5}, RATIO),
        ({"name": "function", "steps_per_epoch": 0}, "dataset.steps_per_epoch"),
        ({"name": "reddi", "start": [2.0]}, "dataset.start"),
        ({"name": "reddi", "noise": 0.1}, "dataset.noise"),
    ],
)  # fmt: skip
def test_bad_test_problem_is_422_naming_the_field(
    alice: TestClient, dataset: dict[str, Any], field: str
) -> None:
    response = alice.post("/v1/experiments", json=problem_body(dataset))
    assert_invalid(response, location="body", field=field)


def test_model_that_does_not_fit_a_test_problem_is_422_suggesting_point(
    alice: TestClient,
) -> None:
    response = alice.post(
        "/v1/experiments", json=problem_body({"name": "reddi"}, model={"name": "mlp"})
    )
    assert response.status_code == 422, response.text
    assert "'point'" in response.text


def test_test_problem_is_accepted_and_has_no_trajectory_before_its_first_step(
    alice: TestClient,
) -> None:
    body = problem_body(
        {"name": "function", "function": "canyon", "start": [-4, 0.5], "curvature_ratio": 50},
        optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True},
    )
    created = alice.post("/v1/experiments", json=body)
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert spec["dataset"]["start"] == [-4.0, 0.5] and spec["model"] == {"name": "point"}
    figure = alice.get(f"/v1/experiments/{created.json()['id']}/trajectory.png")
    assert figure.status_code == 409, figure.text


def test_trajectory_of_an_unknown_format_is_422(alice: TestClient) -> None:
    created = alice.post("/v1/experiments", json=problem_body({"name": "reddi"})).json()
    response = alice.get(f"/v1/experiments/{created['id']}/trajectory.jpeg")
    assert_invalid(response, location="path", field="image_format")
