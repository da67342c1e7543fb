"""Load figures of the service: submit latency under 50 concurrent clients, the read
latency of a 10,000-point curve with and without downsampling, and queue-to-start latency
with an idle worker.

    .venv/bin/python benchmarks/load.py                      # starts `adamlab serve` itself
    .venv/bin/python benchmarks/load.py --server http://127.0.0.1:8000

Without --server it runs ``adamlab serve`` on a free port with a temporary state folder:
the embedded default (private Redis, SQLite), or Redis/PostgreSQL when REDIS_URL /
DATABASE_URL are set. The experiments it submits for the submit benchmark ask for
device "cuda", so they wait in the gpu queue instead of training; it cancels them at the
end. Submissions are measured twice: paced (each of the 50 clients submits once a second,
from a random start: 50 submissions/s in all) and saturated (each submits again as soon
as answered: the latency is then 50 / throughput, whatever the server). The curve comes
from a real digits run of 12 epochs at batch size 1 (10,776 iterations, one batch_loss
point each); the read asks for its first 10,000 steps.

Targets (2-core machine): submit p99 < 50 ms, curve read < 100 ms, queue-to-start < 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._common import latency_summary, report, service  # noqa: E402

PARKED = {
    "name": "load-submit",
    "tags": ["benchmark"],
    "dataset": {"name": "digits"},
    "model": {"name": "logistic_regression"},
    "device": "cuda",
}
CURVE = {
    "name": "load-curve",
    "tags": ["benchmark"],
    "dataset": {"name": "digits", "batch_size": 1},
    "model": {"name": "logistic_regression"},
    "optimizer": {"name": "adam", "lr": 0.01},
    "epochs": 12,
    "device": "cpu",
}
QUICK = {
    "name": "load-start",
    "tags": ["benchmark"],
    "dataset": {"name": "digits"},
    "model": {"name": "logistic_regression"},
    "epochs": 1,
    "device": "cpu",
}
CURVE_POINTS = 10_000
FINISHED = ("succeeded", "failed", "cancelled")


async def submit_latency(
    base_url: str, *, clients: int, per_client: int, interval_s: float | None
) -> dict[str, Any]:
    """``clients`` concurrent clients, each submitting ``per_client`` times: back to back
    (``interval_s`` None: the server saturated, latency = clients / throughput), or one
    submission every ``interval_s`` each, starting at random offsets (a paced load)."""
    latencies: list[float] = []
    ids: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        for _ in range(5):  # warm-up: connections, first-request paths
            (await client.post("/v1/experiments", json=PARKED)).raise_for_status()

        async def one_client(seed: int) -> None:
            pace = random.Random(seed)
            if interval_s is not None:
                await asyncio.sleep(pace.uniform(0, interval_s))
            for _ in range(per_client):
                started = time.perf_counter()
                response = await client.post("/v1/experiments", json=PARKED)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                ids.append(response.json()["id"])
                if interval_s is not None:
                    await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - started)))

        wall = time.perf_counter()
        await asyncio.gather(*(one_client(seed) for seed in range(clients)))
        wall = time.perf_counter() - wall
        for experiment_id in ids:  # they wait in the gpu queue; do not leave them there
            await client.post(f"/v1/experiments/{experiment_id}/cancel")
    return latency_summary(latencies) | {
        "clients": clients,
        "interval_s": interval_s,
        "throughput_per_s": round(len(latencies) / wall, 1),
    }


def wait_finished(client: httpx.Client, experiment_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        experiment = client.get(f"/v1/experiments/{experiment_id}").json()
        if experiment["status"] in FINISHED:
            return experiment
        if time.monotonic() > deadline:
            raise TimeoutError(f"{experiment_id} not finished after {timeout_s} s: {experiment}")
        time.sleep(0.05)


def curve_read_latency(client: httpx.Client, *, repeats: int) -> dict[str, Any]:
    created = client.post("/v1/experiments", json=CURVE)
    created.raise_for_status()
    done = wait_finished(client, created.json()["id"], timeout_s=600)
    if done["status"] != "succeeded":
        raise RuntimeError(f"the curve's run did not succeed: {done}")
    path = f"/v1/experiments/{done['id']}/metrics"
    full = {"name": "batch_loss", "step_max": CURVE_POINTS}
    points = len(client.get(path, params=full).json()["curves"]["batch_loss"]["steps"])
    if points != CURVE_POINTS:
        raise RuntimeError(f"expected {CURVE_POINTS} points, the curve has {points}")
    results = {}
    for label, params in (("raw", full), ("max_points_500", full | {"max_points": 500})):
        latencies = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path, params=params)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
        results[label] = latency_summary(latencies)
    return {"points": points} | results


def queue_to_start_latency(client: httpx.Client, *, samples: int) -> dict[str, Any]:
    """Server-side started_at − queued_at of jobs submitted to an idle worker, one at a
    time; ``client_s`` adds what a client sees: POST sent to the first GET saying running."""
    server_s, client_s = [], []
    warm_up = client.post("/v1/experiments", json=QUICK)  # the worker is up and warm
    wait_finished(client, warm_up.json()["id"], timeout_s=120)
    for _ in range(samples):
        sent = time.perf_counter()
        created = client.post("/v1/experiments", json=QUICK)
        created.raise_for_status()
        experiment_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/v1/experiments/{experiment_id}").json()["status"] == "queued":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{experiment_id} still queued after 60 s")
        client_s.append(time.perf_counter() - sent)
        done = wait_finished(client, experiment_id, timeout_s=120)
        timings = done["timings"]
        server_s.append(
            (
                datetime.fromisoformat(timings["started_at"])
                - datetime.fromisoformat(timings["queued_at"])
            ).total_seconds()
        )
        time.sleep(0.5)  # let the worker go idle again
    return {"server": latency_summary(server_s), "client_observed": latency_summary(client_s)}


def run(base_url: str, *, clients: int, per_client: int, repeats: int, samples: int) -> dict:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        start = queue_to_start_latency(client, samples=samples)
        curve = curve_read_latency(client, repeats=repeats)
    paced = asyncio.run(
        submit_latency(base_url, clients=clients, per_client=per_client, interval_s=1.0)
    )
    saturated = asyncio.run(
        submit_latency(base_url, clients=clients, per_client=per_client, interval_s=None)
    )
    return {
        "submit_paced": paced,
        "submit_saturated": saturated,
        "curve_read": curve,
        "queue_to_start": start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="base URL of a running service (default: start one)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100, help="reads of each curve form")
    parser.add_argument("--samples", type=int, default=10, help="queue-to-start samples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with service(args.server, state_prefix="adamlab-load-") as base_url:
        figures = run(
            base_url,
            clients=args.clients,
            per_client=args.per_client,
            repeats=args.repeats,
            samples=args.samples,
        )
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
