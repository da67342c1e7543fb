"""``adamlab sweep`` against the live service (uvicorn, a Celery worker, Redis, PostgreSQL):
the example file created with --wait to its end, its report written, shown and listed.
The commands' every answer and refusal on scripted answers: tests/adamlab/test_cli_sweep.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import REPO_ROOT, base_env
from tests.support.processes import run_to_end
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]


def adamlab(*args: str, server: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    env = base_env(ADAMLAB_SERVER=server)
    env.pop("ADAMLAB_API_KEY", None)
    return run_to_end([sys.executable, "-m", "adamlab.cli", *args], env=env, timeout_s=timeout_s)


def test_the_example_sweep_runs_to_its_end_and_its_report_is_written(
    service: Service, tmp_path: Path
) -> None:
    example = (REPO_ROOT / "examples" / "digits-sweep.yaml").read_text()
    small = tmp_path / "small.yaml"
    small.write_text(
        example.replace("epochs: 10", "epochs: 3").replace("max_members: 24", "max_members: 6")
    )
    created = adamlab(
        "sweep", "create", str(small), "--wait", "--poll-interval", "0.2", server=service.base_url
    )
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.split(":")[0]  # "ID: finished: queued 0, ... (of 6)"
    assert len(sweep_id) == 36 and "finished" in created.stdout, created.stdout
    assert "created sweep" in created.stderr and "of 6" in created.stderr, created.stderr
    assert "best test_acc" in created.stderr, created.stderr

    shown = adamlab("sweep", "show", sweep_id, "--json", server=service.base_url)
    assert shown.returncode == 0, shown.stderr
    sweep = json.loads(shown.stdout)
    assert sweep["status"] == "finished" and sweep["members"]["total"] == 6
    ended = sweep["members"]["succeeded"] + sweep["members"]["stopped"]
    assert ended == 6, sweep["members"]

    out = tmp_path / "report"
    reported = adamlab(
        "sweep", "report", sweep_id, "-o", str(out), "--target", "0.5", server=service.base_url
    )
    assert reported.returncode == 0, reported.stderr
    assert {p.name for p in out.iterdir()} == {
        "report.json",
        "report.csv",
        "report.png",
        "report.svg",
    }
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["succeeded"] + report["counts"]["stopped"] == 6
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")
    assert "IQM" in reported.stdout, reported.stdout

    listed = adamlab("sweep", "list", server=service.base_url)
    assert sweep_id[:8] in listed.stdout, listed.stdout
    members = adamlab("list", "--sweep", sweep_id, "--json", server=service.base_url)
    assert len(json.loads(members.stdout)) == 6, members.stdout
