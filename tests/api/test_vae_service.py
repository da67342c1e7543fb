"""The VAE on the live service (uvicorn, a Celery worker, Redis, SQLite): an experiment
trained by a real worker stores its ELBO per epoch, rising, and draws it; a small sweep of
the bias-correction preset runs to the end and draws Kingma & Ba's Figure 4."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.sweeps.presets import bias_correction
from tests.factories import sweep_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

SMALL_DIGITS = {"name": "digits", "batch_size": 64, "train_limit": 384, "test_limit": 200}
VAE = {"name": "vae", "hidden_size": 32, "latent_size": 4}


@pytest.fixture
def http(sqlite_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sqlite_service.base_url, timeout=30.0) as client:
        yield client


def wait_for_sweep(http: httpx.Client, sweep_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] == "finished":
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s} s: {sweep}")
        time.sleep(0.2)


def test_a_vae_trained_by_a_worker_stores_its_rising_elbo(http: httpx.Client) -> None:
    body = {"dataset": SMALL_DIGITS, "model": VAE, "optimizer": {"name": "adam", "lr": 1e-2},
            "epochs": 4, "device": "cpu"}  # fmt: skip
    experiment_id = submitted_id(http, body)
    done = poll_experiment(http, experiment_id, until=finished, timeout_s=120)
    assert done["status"] == "succeeded", done
    curves = http.get(f"/v1/experiments/{experiment_id}/metrics").json()["curves"]
    assert {"batch_loss", "lr", "train_elbo", "test_elbo"} <= set(curves)
    assert not {"train_loss", "test_loss", "test_acc"} & set(curves)
    test = curves["test_elbo"]["values"]
    assert curves["test_elbo"]["epochs"] == [1, 2, 3, 4]
    assert test[-1] == done["final_metrics"]["test_elbo"]
    assert test[-1] > test[0] and curves["train_elbo"]["values"][-1] > test[0] - 20
    losses = curves["batch_loss"]["values"]
    assert len(losses) == 4 * 6 and losses[-1] < losses[0]
    figure = http.get(f"/v1/experiments/{experiment_id}/plot.svg")
    assert figure.status_code == 200 and "ELBO per epoch" in figure.text


def test_a_small_bias_correction_sweep_draws_figure_4(http: httpx.Client) -> None:
    body = bias_correction(epochs=2)
    body["base"] |= {"dataset": SMALL_DIGITS, "model": VAE, "device": "cpu"}
    body["parameters"]["optimizer.betas"]["values"] = [[0.0, 0.999], [0.9, 0.999]]
    body["parameters"]["optimizer.lr"]["values"] = [1e-3, 1e-2]
    created = http.post("/v1/sweeps", json=body)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    done = wait_for_sweep(http, sweep_id)
    assert done["members"]["succeeded"] == 8, done
    report = http.get(f"/v1/sweeps/{sweep_id}/report").json()
    assert report["metric"] == "test_elbo" and len(report["configurations"]) == 8
    svg = http.get(f"/v1/sweeps/{sweep_id}/bias-correction.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg")
    for line in ("0:0.999:1", "0:0.999:0", "0.9:0.999:1", "0.9:0.999:0"):
        assert f'id="bias-correction:{line}"' in svg.text
    png = http.get(f"/v1/sweeps/{sweep_id}/bias-correction.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    early = http.get(f"/v1/sweeps/{sweep_id}/bias-correction.svg", params={"epoch": 1})
    assert early.status_code == 200 and "after epoch 1" in early.text

    other = http.post("/v1/sweeps", json=sweep_body(name="not-bias", seeds=1)).json()
    answer = http.get(f"/v1/sweeps/{other['id']}/bias-correction.png")
    assert answer.status_code == 409 and "optimizer.bias_correction" in answer.text
