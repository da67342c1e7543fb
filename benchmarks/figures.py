"""The figures and exports of docs/results.md ("Figures measured"): the size of each answer
and its time over several tries, on a digits run of 10,776 iterations (batch 1, 12 epochs;
10,776 points each of batch_loss and lr) and a second, AdaMax run to compare with. Every
figure is also written to --out, to be looked at.

    .venv/bin/python benchmarks/figures.py --out /tmp/figures   # starts `adamlab serve` itself
    .venv/bin/python benchmarks/figures.py --server http://127.0.0.1:8000 --out /tmp/figures
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._common import report, service  # noqa: E402

RUN: dict[str, Any] = {
    "dataset": {"name": "digits", "batch_size": 1},
    "model": {"name": "logistic_regression"},
    "epochs": 12,
    "device": "cpu",
}
RUNS = {
    "adam": RUN | {"name": "figures-adam", "optimizer": {"name": "adam", "lr": 0.001}},
    "adamax": RUN | {"name": "figures-adamax", "optimizer": {"name": "adamax", "lr": 0.002}},
}


def finished(http: httpx.Client, experiment_id: str, timeout_s: float = 900.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = http.get(f"/v1/experiments/{experiment_id}").json()
        if shown["status"] in ("succeeded", "failed", "cancelled"):
            return shown
        time.sleep(0.5)
    raise TimeoutError(f"experiment {experiment_id} did not finish in {timeout_s:g} s")


def timed(http: httpx.Client, url: str, tries: int, **kwargs: Any) -> tuple[bytes, list[float]]:
    """The answer's body and the time of each try, in seconds."""
    times, body = [], b""
    for _ in range(tries):
        started = time.perf_counter()
        response = http.get(url, **kwargs)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        body = response.content
    return body, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="a running service (default: start adamlab serve)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures")
    parser.add_argument("--tries", type=int, default=5, help="tries of each request")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        service(args.server, state_prefix="adamlab-figures-") as base_url,
        httpx.Client(base_url=base_url, timeout=120.0) as http,
    ):
        ids = {}
        for key, spec in RUNS.items():
            answer = http.post("/v1/experiments", json=spec)
            answer.raise_for_status()
            ids[key] = answer.json()["id"]
        shown = {key: finished(http, experiment_id) for key, experiment_id in ids.items()}
        adam, adamax = ids["adam"], ids["adamax"]
        compare = {"ids": f"{adam},{adamax}", "metric": ["batch_loss", "test_acc"]}
        requests = {
            "plot.png": (f"/v1/experiments/{adam}/plot.png", {}),
            "plot.svg": (f"/v1/experiments/{adam}/plot.svg", {}),
            "plot.png, smoothing 0.99": (
                f"/v1/experiments/{adam}/plot.png",
                {"params": {"smoothing": 0.99}},
            ),
            "compare.png, 2 runs, batch_loss and test_acc": (
                "/v1/compare.png",
                {"params": compare},
            ),
            "compare.png, x examples, smoothing 0.99": (
                "/v1/compare.png",
                {"params": compare | {"x": "examples", "smoothing": 0.99}},
            ),
            "metrics as CSV": (
                f"/v1/experiments/{adam}/metrics",
                {"headers": {"Accept": "text/csv"}},
            ),
            "metrics as JSON": (f"/v1/experiments/{adam}/metrics", {}),
            "checkpoint (final weights)": (f"/v1/experiments/{adam}/checkpoint", {}),
        }
        measured: dict[str, Any] = {}
        for name, (url, kwargs) in requests.items():
            body, times = timed(http, url, args.tries, **kwargs)
            suffix = ".png" if "png" in name else ".svg" if "svg" in name else ""
            if suffix:
                slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
                (args.out / f"{slug}{suffix}").write_bytes(body)
            measured[name] = {
                "bytes": len(body),
                "seconds_min": round(min(times), 3),
                "seconds_max": round(max(times), 3),
            }
    report(
        {
            "runs": {key: run["status"] for key, run in shown.items()},
            "tries": args.tries,
            "requests": measured,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
