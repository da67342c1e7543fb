"""Sweep figures on ``adamlab serve`` (the embedded default: SQLite, a private Redis, one
worker):

- create: the time of POST /v1/sweeps for a 1,000-member random search (members on the
  gpu queue, which no worker of ``adamlab serve`` consumes, so none runs), and of its
  DELETE;
- overhead: a grid of N members of one tiny epoch each, end to end through the service,
  against the same N specs trained one after another by the engine in this process; the
  difference per member is what the service adds to each (queue, claim, heartbeats,
  stored points, early-stopping decision, the sweep's tending);
- digits27: a 27-member sweep (Adam, AdaMax and SGD with momentum × 3 learning rates × 3
  seeds, the digits MLP, 5 epochs), its wall time and its best configuration;
- disk: what the 27 members added on disk (run folders: final weights and log) and to the
  store (SQLite file: rows and metric points), per member.

Usage: python benchmarks/sweeps.py [--json FILE] [--overhead-members N] [--figures DIR]
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


def wait_finished(http: httpx.Client, sweep_id: str, timeout_s: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] != "running":
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(sweep)
        time.sleep(0.1)


def create_figures(http: httpx.Client) -> dict[str, Any]:
    body = {
        "name": "bench-1000",
        "base": {"dataset": {"name": "digits"}, "model": {"name": "mlp"}, "device": "cuda"},
        "parameters": {
            "optimizer.name": {"values": ["adam", "adamax", "sgd"]},
            "optimizer.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
            "optimizer.momentum": {"values": [0.0, 0.9], "when": {"optimizer.name": "sgd"}},
            "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        },
        "seeds": 2,
        "method": "random",
        "max_members": 1000,
    }
    started = time.perf_counter()
    answer = http.post("/v1/sweeps", json=body, timeout=600)
    create_s = time.perf_counter() - started
    answer.raise_for_status()
    sweep = answer.json()
    started = time.perf_counter()
    http.get(f"/v1/sweeps/{sweep['id']}").raise_for_status()
    get_s = time.perf_counter() - started
    started = time.perf_counter()
    http.delete(f"/v1/sweeps/{sweep['id']}", timeout=600).raise_for_status()
    delete_s = time.perf_counter() - started
    return {
        "members": sweep["members"]["total"],
        "create_s": round(create_s, 2),
        "create_ms_per_member": round(create_s * 1000 / sweep["members"]["total"], 2),
        "get_s": round(get_s, 3),
        "delete_s": round(delete_s, 2),
    }


def tiny_grid(n: int) -> dict[str, Any]:
    lrs = [round(0.001 * (1 + i), 6) for i in range(n)]
    return {
        "name": "bench-overhead",
        "base": {"dataset": {"name": "digits"}, "model": {"name": "logistic_regression"},
                 "epochs": 1, "device": "cpu"},
        "parameters": {"optimizer.lr": {"values": lrs}},
        "seeds": 1,
    }  # fmt: skip


def in_process_seconds(body: dict[str, Any]) -> float:
    """The grid's members trained one after another by the engine, in this process."""
    from core.sweeps.scheduler import plan_members
    from core.sweeps.spec import SweepSpec
    from worker.engine import run_experiment

    spec = SweepSpec.model_validate(body)
    members = plan_members(spec, existing=[], round_index=0, new_configurations=None).members
    run_experiment(members[0].spec)  # warm: imports, the data set's first load
    started = time.perf_counter()
    for member in members:
        with tempfile.TemporaryDirectory() as folder:
            result = run_experiment(member.spec, checkpoint_dir=folder)
            assert result.status == "succeeded", result
    return time.perf_counter() - started


def overhead_figures(http: httpx.Client, n: int) -> dict[str, Any]:
    body = tiny_grid(n)
    started = time.perf_counter()
    sweep = http.post("/v1/sweeps", json=body).json()
    done = wait_finished(http, sweep["id"])
    service_s = time.perf_counter() - started
    assert done["members"]["succeeded"] == n, done["members"]
    local_s = in_process_seconds(body)
    return {
        "members": n,
        "service_s": round(service_s, 2),
        "in_process_s": round(local_s, 2),
        "overhead_ms_per_member": round((service_s - local_s) * 1000 / n, 1),
        "service_over_in_process": round(service_s / local_s, 2),
    }


def digits27_figures(http: httpx.Client) -> dict[str, Any]:
    body = {
        "name": "digits-27",
        "base": {"dataset": {"name": "digits"}, "model": {"name": "mlp", "hidden_sizes": [64]},
                 "epochs": 5, "device": "cpu"},
        "parameters": {
            "optimizer.name": {"values": ["adam", "adamax", "sgd"]},
            "optimizer.lr": {"values": [0.001, 0.01, 0.1]},
            "optimizer.momentum": {"values": [0.9], "when": {"optimizer.name": "sgd"}},
        },
        "seeds": 3,
    }  # fmt: skip
    started = time.perf_counter()
    sweep = http.post("/v1/sweeps", json=body).json()
    done = wait_finished(http, sweep["id"])
    wall_s = time.perf_counter() - started
    started = time.perf_counter()
    report = http.get(f"/v1/sweeps/{sweep['id']}/report")
    report_s = time.perf_counter() - started
    figure = http.get(f"/v1/sweeps/{sweep['id']}/report.png")
    return {
        "sweep_id": sweep["id"],
        "members": done["members"],
        "wall_s": round(wall_s, 1),
        "best": done["best"],
        "report_status": report.status_code,
        "report_s": round(report_s, 3),
        "report_png_bytes": len(figure.content) if figure.status_code == 200 else None,
    }


def disk_bytes(state: Path) -> tuple[int, int]:
    """Bytes of the run folders and of the store (the SQLite file and its journal)."""
    runs = state / "checkpoints"
    folders = sum(p.stat().st_size for p in runs.rglob("*") if p.is_file()) if runs.exists() else 0
    return folders, sum(p.stat().st_size for p in state.glob("*.db*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--overhead-members", type=int, default=50)
    parser.add_argument("--figures", type=Path, help="write the digits27 report figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": f"{os.cpu_count()} cores"}
    with (
        tempfile.TemporaryDirectory(prefix="adamlab-bench-sweeps-") as state,
        adamlab_serve(serve_env(state)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        folders_before, store_before = disk_bytes(Path(state))
        figures["digits27"] = digits27_figures(http)
        folders_after, store_after = disk_bytes(Path(state))
        figures["disk_per_member"] = {
            "run_folder_bytes": round((folders_after - folders_before) / 27),
            "store_bytes": round((store_after - store_before) / 27),
        }
        figures["create_1000"] = create_figures(http)
        figures["overhead"] = overhead_figures(http, args.overhead_members)
        for name in ("report.png", "report.svg"):
            answer = http.get(f"/v1/sweeps/{figures['digits27']['sweep_id']}/{name}")
            if answer.status_code == 200 and args.figures is not None:
                args.figures.mkdir(parents=True, exist_ok=True)
                (args.figures / f"digits27-{name}").write_bytes(answer.content)
    report(figures, args.json)


if __name__ == "__main__":
    main()
