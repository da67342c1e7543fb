"""``adamlab reproduce table1 --server --seeds N``: Table 1 as a sweep of the live service
(the table1 preset, tiny settings: 1 epoch, 64 training and 100 test images), its table
the median of the seeds and their range beside the published numbers; the same command
again follows the same sweep."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.env import base_env
from tests.support.processes import run_to_end
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

TINY = ["--epochs", "1", "--train-limit", "64", "--test-limit", "100", "--poll-interval", "0.2"]


def reproduce(out: Path, *extra: str, server: str) -> subprocess.CompletedProcess[str]:
    env = base_env()
    env.pop("ADAMLAB_SERVER", None)
    env.pop("ADAMLAB_API_KEY", None)
    argv = [sys.executable, "-m", "adamlab.cli", "reproduce", "table1", "--server", server]
    return run_to_end([*argv, *TINY, "--out", str(out), *extra], env=env, timeout_s=300)


def test_table1_as_a_sweep_with_seeds(service: Service, tmp_path: Path) -> None:
    out = tmp_path / "table1"
    args = ("--seeds", "2", "--models", "lr", "mlp", "--no-progress")
    done = reproduce(out, *args, server=service.base_url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 configurations × 2 seeds = 12 members" in done.stderr, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        sweep = http.get(f"/v1/sweeps/{summary['sweep']}").json()
        members = http.get("/v1/experiments", params={"sweep": summary["sweep"]}).json()["data"]
    assert sweep["status"] == "finished" and sweep["members"]["succeeded"] == 12
    assert all(m["spec"]["dataset"]["train_limit"] == 64 for m in members)
    assert sorted({m["spec"]["seed"] for m in members}) == [0, 1]

    table = done.stdout
    assert "| Adam, published | 92.69% | 98.43% | 98.17% | 99.21% | 99.21% |" in table
    assert "Not the study's setting" in table
    columns = ("lr", "mlp-dropout", "mlp")
    for optimizer, label in (("adam", "Adam"), ("adamax", "AdaMax")):
        row = next(
            line for line in table.splitlines() if line.startswith(f"| {label}, ours (median")
        )
        cells = [cell.strip() for cell in row.strip("|").split("|")[1:]]
        for column, cell in zip(columns, cells, strict=False):
            accuracies = [
                100 * m["test_acc"]
                for m in summary["configurations"][f"{column}-{optimizer}"]["members"]
            ]
            assert len(accuracies) == 2
            assert cell == f"**{statistics.median(accuracies):.2f}%**", (column, cell)
        assert cells[3:] == ["not run", "not run"]  # no CNN asked for
        spread = next(
            line for line in table.splitlines() if line.startswith(f"| {label}, ours, lowest")
        )
        assert "(2 of 2)" in spread
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")

    again = reproduce(out, *args, server=service.base_url)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "following the sweep an identical command created" in again.stderr
    assert json.loads((out / "summary.json").read_text())["sweep"] == summary["sweep"]
    assert again.stdout == done.stdout
