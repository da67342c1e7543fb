"""POST /v1/experiments against the cost limits (core/cost_limits.py) and strict types, and the
limits in GET /v1/catalog: the app in-process on a real SQLite store, the queue replaced
by a recorder (tests/api/test_service.py covers the same 422s over a real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.deps import get_dispatch, get_session
from api.main import app
from core.settings import settings
from tests.factories import digits_body

# The five specs and the fields each is refused on.
EXHAUSTING: list[Any] = [
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "mlp", "hidden_sizes": [65536, 65536]}},
        "model.hidden_sizes", ["ADAMLAB_MAX_PARAMETERS", "ADAMLAB_MAX_RUN_MEMORY_BYTES"],
        id="mlp-65536x2",
    ),
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "mlp", "hidden_sizes": [65536] * 16}},
        "model.hidden_sizes", ["ADAMLAB_MAX_PARAMETERS", "ADAMLAB_MAX_RUN_MEMORY_BYTES"],
        id="mlp-65536x16",
    ),
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "cnn", "channels": [4096, 4096]}},
        "model.channels", ["ADAMLAB_MAX_PARAMETERS", "ADAMLAB_MAX_RUN_MEMORY_BYTES"],
        id="cnn-4096-channels",
    ),
    pytest.param(
        digits_body(dataset={"name": "digits", "batch_size": 1}, epochs=10000),
        "epochs", ["ADAMLAB_MAX_STEPS", "ADAMLAB_MAX_STORED_POINTS"],
        id="digits-10000-epochs-batch-1",
    ),
    pytest.param(
        {"dataset": {"name": "linear", "num_points": 1_000_000, "batch_size": 1},
         "model": {"name": "linear_regression"}, "epochs": 10000},
        "epochs", ["ADAMLAB_MAX_STEPS", "ADAMLAB_MAX_STORED_POINTS"],
        id="linear-million-points-batch-1",
    ),
]  # fmt: skip


@pytest.fixture
def dispatched(sessions: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids sent to the queue; the app's store is ``sessions``' SQLite file, its
    requests the default tenant's (keys not required, on loopback)."""
    sent: list[str] = []

    def session() -> Iterator[Any]:
        with sessions() as one:
            yield one

    async def dispatch() -> Any:
        return lambda experiment_id, queue: sent.append(experiment_id)

    monkeypatch.setattr(settings, "auth", "disabled")
    monkeypatch.setitem(app.dependency_overrides, get_session, session)
    monkeypatch.setitem(app.dependency_overrides, get_dispatch, dispatch)
    yield sent


class Client:
    """Requests to the app in-process, as connections to 127.0.0.1; the app's lifespan
    (broker, migrations check) is not run."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8000"
            ) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@pytest.fixture
def client(dispatched: list[str]) -> Client:
    return Client()


def submit(client: Client, body: dict[str, Any]) -> httpx.Response:
    return client.request("POST", "/v1/experiments", json=body)


@pytest.mark.parametrize(("body", "field", "settings_named"), EXHAUSTING)
def test_spec_beyond_a_cost_limit_is_422_naming_field_and_limit(
    client: Client, dispatched: list[str], body: dict[str, Any], field: str,
    settings_named: list[str],
) -> None:  # fmt: skip
    response = submit(client, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["detail"] == f"2 invalid fields: {field}"
    assert [error["field"] for error in answer["errors"]] == [field, field]
    for error, setting in zip(answer["errors"], settings_named, strict=True):
        assert error["location"] == "body" and error["type"].endswith("_limit")
        assert setting in error["message"]
        assert "the limit is" in error["message"]
    assert dispatched == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"optimizer": {"name": "adam", "lr": "0.1"}}, "optimizer.lr"),
        ({"optimizer": {"name": "adam", "lr": True}}, "optimizer.lr"),
        ({"epochs": 2.0}, "epochs"),
    ],
)
def test_value_of_another_type_is_422_not_coerced(
    client: Client, dispatched: list[str], patch: dict[str, Any], field: str
) -> None:
    response = submit(client, digits_body(**patch))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert dispatched == []


def test_an_integer_learning_rate_is_a_float(client: Client, dispatched: list[str]) -> None:
    response = submit(client, digits_body(optimizer={"name": "adam", "lr": 1}))
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["optimizer"]["lr"] == 1.0
    assert dispatched == [response.json()["id"]]


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("max_parameters", 1000, "model.hidden_sizes"),
        ("max_run_memory_bytes", 100_000, "model.hidden_sizes"),
        ("max_steps", 100, "epochs"),
        ("max_stored_points", 500, "epochs"),
    ],
)
def test_limit_settings_change_the_outcome(
    client: Client,
    dispatched: list[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: int,
    field: str,
) -> None:
    """A digits MLP (4,810 parameters, about 1 MB, 300 iterations, 720 points) is
    queued under the default limits and refused under each lowered one."""
    body = digits_body(model={"name": "mlp", "hidden_sizes": [64]})
    accepted = submit(client, body)
    assert accepted.status_code == 201, accepted.text
    monkeypatch.setattr(settings, setting, value)
    refused = submit(client, body)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == field
    assert f"the limit is {value:,}" in error["message"] or f"={value}" in error["message"]
    assert dispatched == [accepted.json()["id"]]


def test_catalog_shows_the_limits_and_their_settings(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = {item["name"]: item for item in client.get("/v1/catalog").json()["limits"]}
    assert {name: item["value"] for name, item in limits.items()} == {
        "parameters": 100_000_000,
        "memory_bytes": 16 * 2**30,
        "steps": 1_000_000,
        "stored_points": 2_000_000,
    }
    assert {name: item["setting"] for name, item in limits.items()} == {
        "parameters": "ADAMLAB_MAX_PARAMETERS",
        "memory_bytes": "ADAMLAB_MAX_RUN_MEMORY_BYTES",
        "steps": "ADAMLAB_MAX_STEPS",
        "stored_points": "ADAMLAB_MAX_STORED_POINTS",
    }
    assert all(item["description"] and item["unit"] for item in limits.values())
    monkeypatch.setattr(settings, "max_steps", 1234)
    again = {item["name"]: item for item in client.get("/v1/catalog").json()["limits"]}
    assert again["steps"]["value"] == 1234
