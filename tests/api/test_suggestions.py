"""The 422 of a misspelt choice (an optimizer, model, data set or schedule name) or field
suggests the name it meant, on the live service: "did you mean 'adamax'?"; nothing is
suggested when no name is close."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import submit

pytestmark = [pytest.mark.service, pytest.mark.slow]

QUICK: dict[str, Any] = digits_body(name="suggestions", epochs=1, device="cpu")


@pytest.mark.parametrize(
    ("change", "field", "suggestion"),
    [
        pytest.param({"optimizer": {"name": "adammax"}}, "optimizer.name", "adamax", id="adammax"),
        pytest.param({"dataset": {"name": "mnsit"}}, "dataset.name", "mnist", id="dataset"),
        pytest.param({"device": "cpuu"}, "device", "cpu", id="choice"),
        pytest.param({"epoch": 3}, "epoch", "epochs", id="field"),
        pytest.param({"model": {"name": "mlpp"}}, "model.name", "mlp", id="model"),
        pytest.param({"schedule": {"name": "cosin"}}, "schedule.name", "cosine", id="schedule"),
        pytest.param(
            {"dataset": {"name": "digits", "batchsize": 8}},
            "dataset.batchsize",
            "batch_size",
            id="nested-field",
        ),
        pytest.param(
            {"optimizer": {"name": "adam", "beta": [0.9, 0.99]}},
            "optimizer.beta",
            "betas",
            id="variant-field",
        ),
    ],
)
def test_misspelt_choice_or_field_is_422_with_did_you_mean(
    client: httpx.Client, change: dict[str, Any], field: str, suggestion: str
) -> None:
    response = submit(client, QUICK | change)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert f"did you mean {suggestion!r}?" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"optimizer": {"name": "lion"}}, "optimizer.name", id="optimizer"),
        pytest.param({"colour": "blue"}, "colour", id="field"),
    ],
)
def test_choice_or_field_like_none_is_422_without_a_suggestion(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    response = submit(client, QUICK | change)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert "did you mean" not in error["message"]
    assert ("adamax" if field == "optimizer.name" else "GET /v1/catalog") in error["message"]
