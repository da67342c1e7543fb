"""GET /v1/experiments/{id}/logs on the live service: the worker's lines for the run, as
JSON or plain text, bounded by ``lines``."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submitted_id

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
