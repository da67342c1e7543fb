"""A 48-member lr × seed sweep end to end through the service, batched against one member
per run: Adam and AdaMax × 8 learning rates × 3 seeds, logistic regression on MNIST, 5
epochs, on ``adamlab serve`` (the embedded default: SQLite, a private Redis, one worker).
The same definition runs twice, with the automatic ``group_size`` (the members of one
optimizer trained as stacks of up to 16) and with ``group_size: 1``; the figures are the
wall time of each and how far the two reports' numbers lie apart: per configuration the
median and IQM of the final test accuracy (tolerance: 0.1 points, docs/sweeps.md), and the
best configuration.

Usage: ADAMLAB_DATA_DIR=... python benchmarks/batched_sweep.py [--epochs 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import adamlab_serve, report, serve_env  # noqa: E402

LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2]
TOLERANCE_POINTS = 0.1


def definition(epochs: int, group_size: int | None, train_limit: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"mnist-lr-48-group-{group_size or 'auto'}",
        "base": {
            "dataset": {"name": "mnist", "batch_size": 128}
            | ({"train_limit": train_limit} if train_limit else {}),
            "model": {"name": "logistic_regression"},
            "epochs": epochs,
            "device": "cpu",
        },
        "parameters": {
            "optimizer.name": {"values": ["adam", "adamax"]},
            "optimizer.lr": {"values": LEARNING_RATES},
        },
        "seeds": 3,
        "metric": {"name": "test_acc"},
    }
    return body | ({"group_size": group_size} if group_size is not None else {})


def run_sweep(http: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The sweep's wall time from its POST to its end, and its report."""
    started = time.perf_counter()
    answer = http.post("/v1/sweeps", json=body)
    answer.raise_for_status()
    sweep_id = answer.json()["id"]
    while (sweep := http.get(f"/v1/sweeps/{sweep_id}").json())["status"] == "running":
        time.sleep(0.5)
    wall_s = time.perf_counter() - started
    if sweep["members"]["succeeded"] != 48:
        raise RuntimeError(f"sweep {sweep_id} ended with {sweep['members']}")
    return wall_s, http.get(f"/v1/sweeps/{sweep_id}/report").json()


def agreement(batched: dict[str, Any], solo: dict[str, Any]) -> dict[str, Any]:
    """How far the two reports' numbers lie apart, in accuracy points."""

    def by_configuration(report_body: dict[str, Any]) -> dict[tuple[str, float], dict[str, Any]]:
        return {(c["optimizer"], c["lr"]): c for c in report_body["configurations"]}

    ours, theirs = by_configuration(batched), by_configuration(solo)
    assert ours.keys() == theirs.keys()
    worst = {
        statistic: max(100 * abs(ours[k][statistic] - theirs[k][statistic]) for k in ours)
        for statistic in ("median", "iqm")
    }
    finals = max(
        100 * abs(a - b)
        for k in ours
        for a, b in zip(
            sorted(m["final"] for m in ours[k]["members"]),
            sorted(m["final"] for m in theirs[k]["members"]),
            strict=True,
        )
    )
    best = (batched["best"]["optimizer"], batched["best"]["lr"])
    return {
        "max_median_difference_points": round(worst["median"], 4),
        "max_iqm_difference_points": round(worst["iqm"], 4),
        "max_member_final_difference_points": round(finals, 4),
        "within_tolerance": max(worst.values()) <= TOLERANCE_POINTS,
        "best_batched": best,
        "best_solo": (solo["best"]["optimizer"], solo["best"]["lr"]),
        "same_best": best == (solo["best"]["optimizer"], solo["best"]["lr"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-limit", type=int, help="fewer training images (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, CPU",
        "epochs": args.epochs,
        "train_limit": args.train_limit,
    }
    with (
        tempfile.TemporaryDirectory(prefix="adamlab-bench-batched-sweep-") as state,
        adamlab_serve(serve_env(state)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        batched_s, batched = run_sweep(http, definition(args.epochs, None, args.train_limit))
        solo_s, solo = run_sweep(http, definition(args.epochs, 1, args.train_limit))
    figures["batched_wall_s"] = round(batched_s, 1)
    figures["group_size_1_wall_s"] = round(solo_s, 1)
    figures["speedup"] = round(solo_s / batched_s, 2)
    figures["agreement"] = agreement(batched, solo)
    report(figures, args.json)


if __name__ == "__main__":
    main()
