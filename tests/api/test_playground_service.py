"""The playground on the live service (uvicorn, a Celery worker, Redis, PostgreSQL): the
canyon preset's sweep runs its three test problems through a real worker, their points are
stored like any run's, and the trajectory figures are served, one run's and the members'
overlaid; a run of another data set has no trajectory."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from core.sweeps.presets import PRESETS
from tests.factories import digits_body

pytestmark = [pytest.mark.service, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\n"


def wait_for_sweep(http: httpx.Client, sweep_id: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] == "finished":
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s} s: {sweep}")
        time.sleep(0.2)


def test_canyon_preset_runs_on_a_worker_and_its_trajectories_are_drawn(
    client: httpx.Client,
) -> None:
    created = client.post("/v1/sweeps", json=PRESETS["canyon"]())
    assert created.status_code == 201, created.text
    sweep = wait_for_sweep(client, created.json()["id"])
    assert sweep["members"]["succeeded"] == 3
    runs = client.get("/v1/experiments", params={"sweep": sweep["id"]}).json()["data"]
    by_optimizer = {
        (run["spec"]["optimizer"]["name"], run["spec"]["optimizer"]["momentum"] > 0)
        if run["spec"]["optimizer"]["name"] == "sgd"
        else (run["spec"]["optimizer"]["name"], False): run
        for run in runs
    }
    sgd, momentum, adam = (
        by_optimizer[k] for k in [("sgd", False), ("sgd", True), ("adam", False)]
    )
    # stored like any run: the final metrics, and every step's position
    assert sgd["final_metrics"]["distance"] > 10 * momentum["final_metrics"]["distance"]
    assert sgd["final_metrics"]["distance"] > 10 * adam["final_metrics"]["distance"]
    curves = client.get(
        f"/v1/experiments/{adam['id']}/metrics", params={"name": ["x", "y", "step_x"]}
    ).json()["curves"]
    assert curves["x"]["steps"] == list(range(1, 101))
    assert abs(curves["step_x"]["values"][0]) == pytest.approx(0.2, rel=1e-3)

    figure = client.get(f"/v1/experiments/{sgd['id']}/trajectory.png")
    assert figure.status_code == 200, figure.text
    assert figure.headers["content-type"] == "image/png" and figure.content.startswith(PNG)
    animated = client.get(f"/v1/experiments/{adam['id']}/trajectory.gif")
    assert animated.status_code == 200, animated.text
    assert animated.headers["content-type"] == "image/gif"
    assert animated.content[:6] == b"GIF89a"
    ids = ",".join(run["id"] for run in (sgd, momentum, adam))
    overlaid = client.get("/v1/compare/trajectory.svg", params={"ids": ids})
    assert overlaid.status_code == 200, overlaid.text
    for run in (sgd, momentum, adam):
        assert f"({run['id'][:8]})" in overlaid.text  # one legend entry and line per run

    report = client.get(f"/v1/sweeps/{sweep['id']}/report")  # ranked by distance
    assert report.status_code == 200, report.text
    assert client.get(f"/v1/sweeps/{sweep['id']}/report.png").status_code == 200

    other = client.post("/v1/experiments", json=digits_body(epochs=1, device="cpu")).json()
    assert client.get(f"/v1/experiments/{other['id']}/trajectory.png").status_code == 404
    mixed = client.get("/v1/compare/trajectory.png", params={"ids": f"{sgd['id']},{other['id']}"})
    assert mixed.status_code == 422
    assert [error["field"] for error in mixed.json()["errors"]] == ["ids"]
