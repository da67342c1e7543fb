"""Listing experiments on the live service, on PostgreSQL and on SQLite: sorted by a final
metric (runs without it last, pages that neither repeat nor skip a run), and a substring
search of the name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

QUICK: dict[str, Any] = digits_body(name="listing", epochs=1, device="cpu")
# No worker of the tests consumes the gpu queue: these stay queued, without final metrics.
PARKED: dict[str, Any] = QUICK | {"name": "listing-parked", "device": "cuda"}
LEARNING_RATES = (0.1, 0.01, 0.001, 0.0001, 0.1)  # the last repeats the first: a tie


@pytest.fixture(params=["postgresql", "sqlite"])
def live(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    service: Service = request.getfixturevalue(
        "service" if request.param == "postgresql" else "sqlite_service"
    )
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        yield http


def all_pages(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every experiment of a listing, page by page (each page's count the same)."""
    seen: list[dict[str, Any]] = []
    counts: set[int] = set()
    cursor = None
    for _ in range(50):
        page = client.get("/v1/experiments", params=params | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        seen += page.json()["data"]
        counts.add(page.json()["count"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert counts == {len(seen)}, counts
    return seen


def test_sort_by_a_final_metric_pages_through_every_run_once(live: httpx.Client) -> None:
    tag = f"metric-sort-{uuid.uuid4()}"
    ids = [
        submitted_id(live, QUICK | {"tags": [tag], "optimizer": {"name": "adam", "lr": lr}})
        for lr in LEARNING_RATES
    ]
    parked = [submitted_id(live, PARKED | {"tags": [tag]}) for _ in range(2)]
    runs = [poll_experiment(live, i, until=finished, timeout_s=180) for i in ids]
    assert {run["status"] for run in runs} == {"succeeded"}, runs
    accuracy = {run["id"]: run["final_metrics"]["test_acc"] for run in runs}

    best_first = all_pages(live, tag=tag, sort="-test_acc", limit=2)
    expected = sorted(ids, key=lambda i: (accuracy[i], i), reverse=True)
    assert [item["id"] for item in best_first] == expected + sorted(parked, reverse=True)
    worst_first = all_pages(live, tag=tag, sort="test_acc", limit=3)
    expected = sorted(ids, key=lambda i: (accuracy[i], i))
    assert [item["id"] for item in worst_first] == expected + sorted(parked)

    lowest_loss = all_pages(live, tag=tag, sort="test_loss", limit=1)
    losses = [item["final_metrics"]["test_loss"] for item in lowest_loss[: len(ids)]]
    assert losses == sorted(losses)


def test_sort_by_an_unknown_key_is_422_suggesting_the_closest(live: httpx.Client) -> None:
    refused = live.get("/v1/experiments", params={"sort": "-test_accuracy"})
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == "sort"
    assert "did you mean '-test_acc'?" in error["message"]
    assert "test_loss" in error["message"]  # the keys it takes
    per_iteration = live.get("/v1/experiments", params={"sort": "batch_loss"})
    assert per_iteration.status_code == 422  # no final value: not a sort key


def test_name_contains_finds_a_substring_ignoring_case(live: httpx.Client) -> None:
    tag = f"search-{uuid.uuid4()}"
    names = ["Adam-MNIST-lr0.1", "adamax_mnist", "adamaxXmnist", "sgd 100% digits", "cnn"]
    made = {submitted_id(live, PARKED | {"name": name, "tags": [tag]}): name for name in names}

    def found(text: str) -> list[str]:
        return [item["name"] for item in all_pages(live, tag=tag, name_contains=text, sort="name")]

    assert found("mnist") == ["Adam-MNIST-lr0.1", "adamaxXmnist", "adamax_mnist"]
    assert found("ADAMAX") == ["adamaxXmnist", "adamax_mnist"]
    assert found("x_m") == ["adamax_mnist"]  # _ is an underscore, not any one character
    assert found("0%") == ["sgd 100% digits"]  # % is a percent sign, not anything
    assert found("nothing like it") == []
    assert len(made) == len(found(""))
    too_long = live.get("/v1/experiments", params={"name_contains": "x" * 201})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "name_contains"
    control = live.get("/v1/experiments", params={"name_contains": "a\x00b"})
    assert control.status_code == 422
    assert control.json()["errors"][0]["type"] == "control_character"
