"""A run's folder on the server, through the live service: its log at
GET /v1/experiments/{id}/logs (JSON or plain text, bounded by ``lines``), the bytes it
holds (``disk_bytes``), and a cancelled run's weights."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.factories import digits_body, per_example_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]


def test_logs_of_a_finished_run(client: httpx.Client) -> None:
    experiment_id = submitted_id(client, digits_body(name="logs", epochs=3, device="cpu"))
    shown = poll_experiment(client, experiment_id, until=finished, timeout_s=120)
    assert shown["status"] == "succeeded", shown
    url = f"/v1/experiments/{experiment_id}/logs"

    everything = client.get(url).json()
    assert everything["experiment_id"] == experiment_id and not everything["truncated"]
    text = "\n".join(everything["lines"])
    assert f"experiment {experiment_id}: attempt 1" in text
    assert all(f"epoch {n}/3: train_loss" in text for n in (1, 2, 3))

    last_two = client.get(url, params={"lines": 2}).json()
    assert last_two["lines"] == everything["lines"][-2:] and last_two["truncated"]

    plain = client.get(url, headers={"Accept": "text/plain"})
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.text.splitlines() == everything["lines"]


@pytest.mark.parametrize("lines", ["0", "2001", "many"])
def test_logs_lines_out_of_bounds_is_422_naming_it(client: httpx.Client, lines: str) -> None:
    experiment_id = submitted_id(client, digits_body(name="logs-bounds", epochs=1, device="cpu"))
    answer = client.get(f"/v1/experiments/{experiment_id}/logs", params={"lines": lines})
    assert answer.status_code == 422
    assert "lines" in answer.json()["detail"]


def test_logs_of_an_unknown_experiment_is_404(client: httpx.Client) -> None:
    assert client.get("/v1/experiments/no-such-id/logs").status_code == 404


def test_disk_bytes_is_what_the_folder_holds(client: httpx.Client, service: Service) -> None:
    experiment_id = submitted_id(client, digits_body(name="disk", epochs=2, device="cpu"))
    shown = poll_experiment(client, experiment_id, until=finished, timeout_s=120)
    folder = service.state_dir / "checkpoints" / experiment_id
    on_disk = sorted(path.name for path in folder.iterdir())
    assert on_disk == ["final.safetensors", "run.log"]  # the resume checkpoints are gone
    assert shown["disk_bytes"] == sum(path.stat().st_size for path in folder.iterdir())
    assert [checkpoint["epoch"] for checkpoint in shown["checkpoints"]] == [2]


def test_a_cancelled_runs_weights_download_from_its_newest_checkpoint(
    client: httpx.Client, tmp_path: Path
) -> None:
    from safetensors import safe_open

    body = per_example_body(name="cancelled-weights", epochs=100, device="cpu")
    experiment_id = submitted_id(client, body)
    poll_experiment(
        client,
        experiment_id,
        until=lambda shown: (shown["progress"]["step"] or 0) > 898,  # epoch 1 saved
        timeout_s=120,
    )
    assert client.post(f"/v1/experiments/{experiment_id}/cancel").status_code in (200, 202)
    shown = poll_experiment(client, experiment_id, until=finished, timeout_s=60)
    assert shown["status"] == "cancelled"
    weights = client.get(f"/v1/experiments/{experiment_id}/checkpoint")
    assert weights.status_code == 200, weights.text
    path = tmp_path / "weights.safetensors"
    path.write_bytes(weights.content)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["complete"] == "false"
    assert 1 <= int(metadata["epoch"]) < 100


def test_a_run_cancelled_before_its_first_epoch_has_no_weights(client: httpx.Client) -> None:
    body = per_example_body(name="cancelled-early", epochs=100, device="cuda")  # stays queued
    experiment_id = submitted_id(client, body)
    assert client.post(f"/v1/experiments/{experiment_id}/cancel").status_code == 200
    answer = client.get(f"/v1/experiments/{experiment_id}/checkpoint")
    assert answer.status_code == 404
    assert "cancelled before its first epoch ended" in answer.json()["detail"]
