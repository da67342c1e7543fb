"""``adamlab edit`` and ``adamlab delete`` against the live service (tests/support/), each
run as its own process: what they print, what they change, their exit codes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import submitted_id
from tests.support.env import base_env
from tests.support.processes import run_to_end
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

# No worker of the tests consumes the gpu queue: it stays queued.
PARKED: dict[str, Any] = digits_body(name="cli-manage", tags=["old"], device="cuda")


def adamlab(*args: str, server: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = base_env(ADAMLAB_SERVER=server)
    env.pop("ADAMLAB_API_KEY", None)
    argv = [sys.executable, "-m", "adamlab.cli", *args]
    if stdin is None:
        return run_to_end(argv, env=env, timeout_s=60)
    return subprocess.run(
        argv, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def http(service: Service) -> Any:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as client:
        yield client


def test_edit_changes_name_tags_and_note(service: Service, http: httpx.Client, tmp_path: Path):
    experiment_id = submitted_id(http, PARKED)
    note_file = tmp_path / "note.txt"
    note_file.write_bytes("first line\r\n\tsecond, ε\r\n".encode())
    edited = adamlab(
        "edit", experiment_id, "--name", "renamed", "--tag", "a", "--tag", "b",
        "--note-file", str(note_file), server=service.base_url,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.splitlines() == [
        f"{experiment_id}: edited",
        "  name: renamed",
        "  tags: a, b",
        "  note: first line ... (22 characters)",
    ]
    shown = http.get(f"/v1/experiments/{experiment_id}").json()
    assert (shown["name"], shown["tags"]) == ("renamed", ["a", "b"])
    assert shown["note"] == "first line\n\tsecond, ε\n"  # CRLF read as LF

    from_stdin = adamlab(
        "edit", experiment_id, "--note-file", "-", server=service.base_url, stdin="one line"
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert "  note: one line" in from_stdin.stdout.splitlines()

    cleared = adamlab("edit", experiment_id, "--no-tags", "--no-note", server=service.base_url)
    assert cleared.returncode == 0, cleared.stderr
    lines = cleared.stdout.splitlines()
    assert lines[1:] == ["  name: renamed", "  tags: (none)", "  note: (none)"]
    shown = http.get(f"/v1/experiments/{experiment_id}").json()
    assert (shown["name"], shown["tags"], shown["note"]) == ("renamed", [], None)


def test_edit_refusals_exit_2_saying_why(service: Service, http: httpx.Client) -> None:
    experiment_id = submitted_id(http, PARKED)
    nothing = adamlab("edit", experiment_id, server=service.base_url)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    both = adamlab("edit", experiment_id, "--tag", "x", "--no-tags", server=service.base_url)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    bell = adamlab("edit", experiment_id, "--note", "ring\x07", server=service.base_url)
    assert bell.returncode == 2
    assert "HTTP 422" in bell.stderr and "note: Text must not contain" in bell.stderr
    unknown = adamlab("edit", str(uuid.uuid4()), "--name", "x", server=service.base_url)
    assert unknown.returncode == 2 and "HTTP 404" in unknown.stderr
    missing = adamlab(
        "edit", experiment_id, "--note-file", "/no/such/file", server=service.base_url
    )
    assert missing.returncode == 2 and "--note-file /no/such/file" in missing.stderr
    shown = http.get(f"/v1/experiments/{experiment_id}").json()
    assert (shown["name"], shown["tags"], shown["note"]) == ("cli-manage", ["old"], None)


def test_delete_several_at_once_naming_each(service: Service, http: httpx.Client) -> None:
    first = submitted_id(http, PARKED)
    second = submitted_id(http, PARKED | {"name": "cli-manage-2"})
    unknown = str(uuid.uuid4())
    done = adamlab("delete", first, unknown, second, first, server=service.base_url)
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines() == [
        f"{first}: deleted (cli-manage, queued)",
        f"{second}: deleted (cli-manage-2, queued)",
    ]
    assert f"{unknown}: HTTP 404" in done.stderr
    for experiment_id in (first, second):
        assert http.get(f"/v1/experiments/{experiment_id}").status_code == 404
    again = adamlab("delete", first, server=service.base_url)
    assert again.returncode == 2 and "HTTP 404" in again.stderr

    third = submitted_id(http, PARKED)
    clean = adamlab("delete", third, server=service.base_url)
    assert (clean.returncode, clean.stdout.strip()) == (0, f"{third}: deleted (cli-manage, queued)")
