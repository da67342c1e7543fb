"""``adamlab reproduce table1 --server``: the ten Table 1 runs on the live service, with
tiny settings (1 epoch, 64 training and 100 test images), through the keyed API (an API
key, and a cap of 3 active experiments per tenant, so most submissions first get 429)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import base_env
from tests.support.processes import run_to_end
from tests.support.service import KeyedService

pytestmark = [pytest.mark.service, pytest.mark.slow]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ["--epochs", "1", "--train-limit", "64", "--test-limit", "100", "--poll-interval", "0.2"]


def reproduce(out: Path, *extra: str, server: str, api_key: str) -> subprocess.CompletedProcess:
    env = base_env(ADAMLAB_API_KEY=api_key)
    env.pop("ADAMLAB_SERVER", None)
    argv = [sys.executable, "-m", "adamlab.cli", "reproduce", "table1", "--server", server]
    return run_to_end([*argv, *TINY, "--out", str(out), *extra], env=env, timeout_s=300)


def test_reproduce_table1_on_the_service(keyed_service: KeyedService, tmp_path: Path) -> None:
    key = keyed_service.new_key("table1-tenant")
    out = tmp_path / "table1"
    done = reproduce(out, server=keyed_service.base_url, api_key=key)
    assert done.returncode == 0, done.stderr[-3000:]

    with keyed_service.client(key) as http:
        listed = http.get("/v1/experiments", params={"tag": "table1", "limit": 50}).json()
    experiments = {e["name"].removeprefix("table1-"): e for e in listed["data"]}
    assert listed["count"] == 10 and len(experiments) == 10
    assert all(e["status"] == "succeeded" for e in experiments.values())
    assert all(e["spec"]["dataset"]["train_limit"] == 64 for e in experiments.values())

    # The table, beside the published numbers, with the service's accuracies.
    table = done.stdout
    assert "Not the study's setting" in table
    assert "| Adam, published | 92.69% | 98.43% | 98.17% | 99.21% | 99.21% |" in table
    assert "| AdaMax, published | 92.38% | 98.14% | 98.33% | 99.09% | 99.09% |" in table
    columns = ("lr", "mlp-dropout", "mlp", "cnn-dropout", "cnn")
    for optimizer, label in (("adam", "Adam"), ("adamax", "AdaMax")):
        row = next(line for line in table.splitlines() if line.startswith(f"| {label}, ours |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")[1:]]
        expected = [
            f"**{100 * experiments[f'{column}-{optimizer}']['final_metrics']['test_acc']:.2f}%**"
            for column in columns
        ]
        assert cells == expected
    assert (out / "table1.md").read_text() == table.removesuffix("\n")
    summary = json.loads((out / "summary.json").read_text())
    assert {entry["id"] for entry in summary.values()} == {e["id"] for e in experiments.values()}
    for figure in ("adam_vs_adamax.png", "dropout.png"):
        assert (out / figure).read_bytes().startswith(PNG_SIGNATURE)

    # The progress display, and the cap: submissions waited for runs to end.
    progress = done.stderr.replace("\r", "\n")
    assert "10/10 ended: 100%" in progress and "| 10/10 [" in progress  # one step each
    assert "waiting to submit" in progress
    assert all(e["progress"]["total_steps"] == 1 for e in experiments.values())

    # Again: the same experiments (Idempotency-Key from the spec), nothing trained anew.
    again = reproduce(out, "--no-progress", server=keyed_service.base_url, api_key=key)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert again.stdout == done.stdout
    with keyed_service.client(key) as http:
        assert http.get("/v1/experiments", params={"tag": "table1"}).json()["count"] == 10


def test_reproduce_on_a_service_needs_no_torch() -> None:
    probe = (
        "import sys\n"
        "from adamlab.cli import build_parser\n"
        "from adamlab.commands import _reproduce_remote\n"
        "args = build_parser().parse_args(['reproduce', 'table1', '--server', 'http://x'])\n"
        "assert len(_reproduce_remote.configs_from_args(args)) == 10\n"
        "print('torch' in sys.modules)\n"
    )
    done = run_to_end([sys.executable, "-c", probe], timeout_s=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_reproduce_with_a_wrong_key_exits_2(keyed_service: KeyedService, tmp_path: Path) -> None:
    done = reproduce(tmp_path / "t", server=keyed_service.base_url, api_key="wrong")
    assert done.returncode == 2
    assert "HTTP 401" in done.stderr
