"""The VAE and the bias-correction sweep at the API, in this process (tests/support/app.py):
a VAE experiment and the preset's sweep are accepted, and each bad value is a 422 naming
its field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import settings
from core.sweeps.presets import bias_correction
from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import Store

VAE_BODY: dict[str, Any] = {
    "dataset": {"name": "mnist", "batch_size": 100},
    "model": {"name": "vae"},
    "optimizer": {"name": "adam", "lr": 1e-3, "bias_correction": False},
    "epochs": 1,
    "device": "cuda",  # the gpu queue: nothing here runs it
}


@pytest.fixture
def api(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    monkeypatch.setattr(settings, "state_dir", tmp_path / "state")
    with inprocess_api(store, monkeypatch) as running:
        yield running


@pytest.fixture
def alice(api: InProcessApi) -> TestClient:
    return api.client(api.new_key(f"alice-{uuid.uuid4().hex[:8]}"))


def refused_fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [error["field"] for error in answer.json()["errors"]]


def test_a_vae_experiment_is_accepted_with_its_defaults(alice: TestClient) -> None:
    answer = alice.post("/v1/experiments", json=VAE_BODY)
    assert answer.status_code == 201, answer.text
    spec = answer.json()["spec"]
    assert spec["model"] == {"name": "vae", "hidden_size": 500, "latent_size": 50}
    assert spec["optimizer"]["bias_correction"] is False


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"name": "vae", "latent_size": 0}, "model.latent_size"),
        ({"name": "vae", "hidden_size": "500"}, "model.hidden_size"),
        ({"name": "vae", "hidden_size": 70_000}, "model.hidden_size"),
        ({"name": "vae", "latent": 50}, "model.latent"),
    ],
    ids=["latent-0", "hidden-string", "hidden-too-wide", "unknown-field"],
)
def test_a_bad_vae_field_is_422_naming_it(
    alice: TestClient, model: dict[str, Any], field: str
) -> None:
    answer = alice.post("/v1/experiments", json=VAE_BODY | {"model": model})
    assert refused_fields(answer) == [field]


def test_a_vae_on_a_data_set_without_images_is_422_saying_so(alice: TestClient) -> None:
    body = VAE_BODY | {"dataset": {"name": "linear"}}
    answer = alice.post("/v1/experiments", json=body)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    # A check across two parts names the body (as a classification model on 'linear' does);
    # the message names both parts.
    assert error["field"] == "body"
    assert error["message"].startswith("model 'vae' models images; dataset 'linear' has none")


def test_bias_correction_needs_a_boolean(alice: TestClient) -> None:
    body = VAE_BODY | {"optimizer": {"name": "adam", "bias_correction": "no"}}
    assert refused_fields(alice.post("/v1/experiments", json=body)) == ["optimizer.bias_correction"]


def test_the_bias_correction_preset_is_accepted_as_60_members(alice: TestClient) -> None:
    body = bias_correction(epochs=1)
    body["base"]["device"] = "cuda"
    answer = alice.post("/v1/sweeps", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["members"]["total"] == 60


def test_the_figure_of_a_sweep_without_results_is_409_and_a_bad_epoch_422(
    alice: TestClient,
) -> None:
    body = bias_correction(epochs=1)
    body["base"]["device"] = "cuda"
    sweep_id = alice.post("/v1/sweeps", json=body).json()["id"]
    answer = alice.get(f"/v1/sweeps/{sweep_id}/bias-correction.png")
    assert answer.status_code == 409 and "no configuration" in answer.json()["detail"]
    for bad in ("0", "x"):
        answer = alice.get(f"/v1/sweeps/{sweep_id}/bias-correction.png", params={"epoch": bad})
        assert refused_fields(answer) == ["epoch"]


def test_a_bias_correction_sweep_with_a_bad_value_is_422_naming_the_field(
    alice: TestClient,
) -> None:
    body = bias_correction(epochs=1)
    body["parameters"]["optimizer.betas"]["values"].append([0.9, 1.0])
    assert refused_fields(alice.post("/v1/sweeps", json=body)) == ["parameters.optimizer.betas"]
    body = bias_correction(epochs=0)
    assert "base.epochs" in refused_fields(alice.post("/v1/sweeps", json=body))
