"""Waiting on the live service from the command line: ``submit --wait`` and ``wait``
through a restart of the API, Ctrl-C while waiting (``reproduce --server`` too), plain
progress lines when standard error is not a terminal, ``cancel A B``, the checks of
``--server``, and ``catalog``. Each command runs as its own process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import submitted_id
from tests.support.env import REPO_ROOT, base_env
from tests.support.processes import free_port, run_to_end, stop_child, wait_until
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

QUICK: dict[str, Any] = digits_body(
    name="wait-quick", optimizer={"name": "adam", "lr": 0.02}, epochs=2, device="cpu"
)
# No worker of the tests consumes the gpu queue: it stays queued until cancelled.
PARKED: dict[str, Any] = QUICK | {"name": "wait-parked", "device": "cuda"}
TINY_TABLE1 = ["--epochs", "1", "--train-limit", "64", "--test-limit", "100"]


def adamlab(*args: str, server: str | None, timeout_s: float = 120) -> subprocess.CompletedProcess:
    env = base_env(**({"ADAMLAB_SERVER": server} if server else {}))
    env.pop("ADAMLAB_API_KEY", None)
    return run_to_end([sys.executable, "-m", "adamlab.cli", *args], env=env, timeout_s=timeout_s)


class Running:
    """``adamlab ARGS`` running in the background, its output going to files."""

    def __init__(self, folder: Path, *args: str, server: str) -> None:
        env = base_env(ADAMLAB_SERVER=server)
        env.pop("ADAMLAB_API_KEY", None)
        self.out_path, self.err_path = folder / "stdout.txt", folder / "stderr.txt"
        self._files: list[IO[bytes]] = [self.out_path.open("wb"), self.err_path.open("wb")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adamlab.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=self._files[0],
            stderr=self._files[1],
        )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for_stderr(self, pattern: str, *, timeout_s: float = 60) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{self.stderr}")
            match = re.search(pattern, self.stderr)
            found.extend([match] if match else [])
            return match is not None

        wait_until(seen, timeout_s=timeout_s, what=f"{pattern!r} on standard error")
        return found[0]

    def exit_code(self, *, timeout_s: float = 60) -> int:
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for file in self._files:
            file.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Running]]:
    """Background commands of a test, killed at its end whatever happened."""
    started: list[Running] = []
    yield started
    for command in started:
        command.stop()


@pytest.fixture(scope="module")
def restartable_api(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A second API process on the shared service's store and broker (its worker trains
    the jobs), of this module's alone, so a test may stop and start it."""
    root = tmp_path_factory.mktemp("restartable")
    api = Service(
        base_url=f"http://127.0.0.1:{free_port()}",
        env=service.env,
        state_dir=service.state_dir,
        log_dir=root,
    )
    try:
        api.start_api()
        yield api
    finally:
        api.stop()


def spec_file(folder: Path, spec: dict[str, Any]) -> Path:
    path = folder / f"{spec['name']}.json"
    path.write_text(json.dumps(spec))
    return path


def cancel_over_http(base_url: str, *experiment_ids: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        for experiment_id in experiment_ids:
            http.post(f"/v1/experiments/{experiment_id}/cancel")


def stopped_waiting(*experiment_ids: str) -> str:
    ids = " ".join(experiment_ids)
    if len(experiment_ids) == 1:
        return f"stopped waiting; the run continues; `adamlab cancel {ids}` stops it"
    return f"stopped waiting; the runs continue; `adamlab cancel {ids}` stops them"


@pytest.mark.parametrize("command", ["submit --wait", "wait"])
def test_waiting_survives_a_restart_of_the_api(
    command: str, restartable_api: Service, tmp_path: Path, running: list[Running]
) -> None:
    server = restartable_api.base_url
    if command == "wait":
        with httpx.Client(base_url=server, timeout=30.0) as http:
            experiment_id = submitted_id(http, PARKED)
        argv = ["wait", experiment_id]
    else:
        argv = ["submit", str(spec_file(tmp_path, PARKED)), "--wait"]
    waiting = Running(tmp_path, *argv, "--poll-interval", "0.2", "--retry-for", "180",
                      server=server)  # fmt: skip
    running.append(waiting)
    if command == "submit --wait":
        experiment_id = waiting.wait_for_stderr(r"submitted (\S+)").group(1)
    waiting.wait_for_stderr(r"(?m)^queued: ")

    assert restartable_api.api is not None
    stop_child(restartable_api.api, grace_s=10.0)
    time.sleep(1.5)  # polls meet a closed port meanwhile
    assert waiting.process.poll() is None, waiting.stderr
    restartable_api.start_api()
    time.sleep(1.0)
    assert waiting.process.poll() is None, waiting.stderr  # still waiting, not exit 3
    assert "did not answer" in waiting.stderr and "trying again" in waiting.stderr

    cancel_over_http(server, experiment_id)
    assert waiting.exit_code() == 1, waiting.stderr  # 1: cancelled
    assert f"{experiment_id}: cancelled" in waiting.stdout
    assert "Traceback" not in waiting.stderr


@pytest.mark.parametrize("command", ["submit --wait", "wait"])
def test_ctrl_c_while_waiting_says_the_run_continues(
    command: str, service: Service, tmp_path: Path, running: list[Running]
) -> None:
    if command == "wait":
        with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
            experiment_id = submitted_id(http, PARKED)
        argv = ["wait", experiment_id]
    else:
        argv = ["submit", str(spec_file(tmp_path, PARKED)), "--wait"]
    waiting = Running(tmp_path, *argv, "--poll-interval", "0.2", server=service.base_url)
    running.append(waiting)
    if command == "submit --wait":
        experiment_id = waiting.wait_for_stderr(r"submitted (\S+)").group(1)
    waiting.wait_for_stderr(r"(?m)^queued: ")

    waiting.process.send_signal(signal.SIGINT)
    assert waiting.exit_code() == 130
    assert stopped_waiting(experiment_id) in waiting.stderr
    assert "Traceback" not in waiting.stderr and "KeyboardInterrupt" not in waiting.stderr
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        assert http.get(f"/v1/experiments/{experiment_id}").json()["status"] == "queued"
    cancel_over_http(service.base_url, experiment_id)


def test_ctrl_c_in_reproduce_on_a_server_then_cancel_them_all(
    service: Service, tmp_path: Path, running: list[Running]
) -> None:
    # On the gpu queue, which no worker here consumes: the ten runs stay queued.
    argv = ["reproduce", "table1", "--server", service.base_url, *TINY_TABLE1, "--seed", "71",
            "--device", "cuda", "--poll-interval", "0.2", "--out", str(tmp_path / "t")]  # fmt: skip
    waiting = Running(tmp_path, *argv, server=service.base_url)
    running.append(waiting)
    waiting.wait_for_stderr(r"0/10 ended")
    waiting.process.send_signal(signal.SIGINT)
    assert waiting.exit_code() == 130
    assert "Traceback" not in waiting.stderr
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        listed = http.get("/v1/experiments", params={"tag": "table1", "limit": 500}).json()
    ours = [e for e in listed["data"] if e["spec"]["seed"] == 71]
    assert len(ours) == 10 and all(e["status"] == "queued" for e in ours)
    sentence = re.search(r"`adamlab cancel ([^`]+)` stops them", waiting.stderr)
    assert sentence is not None, waiting.stderr
    assert "stopped waiting; the runs continue;" in waiting.stderr
    assert sorted(sentence.group(1).split()) == sorted(e["id"] for e in ours)

    # The sentence's command, as written: every run cancelled, one line each.
    ids = sentence.group(1).split()
    cancelled = adamlab("cancel", *ids, server=service.base_url)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.splitlines() == [f"{i}: cancelled" for i in ids]


def test_cancel_several_names_each_refusal(service: Service) -> None:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        first, second = submitted_id(http, PARKED), submitted_id(http, PARKED)
    done = adamlab("cancel", first, "no-such-id", second, server=service.base_url)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [f"{first}: cancelled", f"{second}: cancelled"]
    assert "no-such-id: HTTP 404" in done.stderr


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(
    service: Service, tmp_path: Path
) -> None:
    done = adamlab("submit", str(spec_file(tmp_path, QUICK)), "--wait", "--poll-interval", "0.1",
                   server=service.base_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("submitted ")
    assert any(line.startswith("queued: ") or line.startswith("running: ") for line in lines)
    last = re.fullmatch(r"succeeded: 100%\|█+\| (\d+)/(\d+) \[.*epoch=2/2.*\]", lines[-1])
    assert last is not None and last.group(1) == last.group(2), lines[-1]
    assert len(lines) == len(set(lines))  # a line when something changed, never a repeat


def test_wait_for_several_runs_a_bar_each_and_the_exit_code(
    service: Service, tmp_path: Path
) -> None:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        quick = [submitted_id(http, QUICK), submitted_id(http, QUICK | {"name": "wait-quick-2"})]
        parked = submitted_id(http, PARKED)
    both = adamlab("wait", *quick, "--poll-interval", "0.2", server=service.base_url)
    assert both.returncode == 0, both.stderr
    for experiment_id in quick:
        assert f"{experiment_id}: succeeded" in both.stdout
        own = [line for line in both.stderr.splitlines() if line.startswith(f"{experiment_id} ")]
        assert own and own[-1].startswith(f"{experiment_id} succeeded: 100%|"), both.stderr

    cancel_over_http(service.base_url, parked)
    mixed = adamlab("wait", quick[0], parked, server=service.base_url)
    assert mixed.returncode == 1
    assert f"{quick[0]}: succeeded" in mixed.stdout and f"{parked}: cancelled" in mixed.stdout

    unknown = adamlab("wait", "no-such-id", server=service.base_url)
    assert unknown.returncode == 2 and "HTTP 404" in unknown.stderr


def test_server_without_a_scheme_is_a_usage_error(service: Service) -> None:
    host_port = service.base_url.removeprefix("http://")
    done = adamlab("list", "--server", host_port, server=None)
    assert done.returncode == 2
    assert f"--server {host_port} has no http:// or https:// scheme" in done.stderr
    assert f"e.g. http://{host_port}" in done.stderr
    from_env = adamlab("catalog", server=host_port)
    assert from_env.returncode == 2 and f"ADAMLAB_SERVER {host_port} has no" in from_env.stderr
    assert "no adamlab server answered" not in done.stderr + from_env.stderr


def test_server_ending_in_v1_says_to_give_the_root(service: Service) -> None:
    done = adamlab("list", "--server", f"{service.base_url}/v1", server=None)
    assert done.returncode == 2
    assert "the URL should be the service's root" in done.stderr
    assert f"(e.g. {service.base_url})" in done.stderr
    prefixed = adamlab("show", "x", "--server", f"{service.base_url}/adamlab", server=None)
    assert prefixed.returncode == 2
    assert "HTTP 404" in prefixed.stderr and "the adamlab service's root URL" in prefixed.stderr


def test_catalog_readable_and_json(service: Service) -> None:
    document = httpx.get(f"{service.base_url}/v1/catalog", timeout=30.0).json()
    raw = adamlab("catalog", "--json", server=service.base_url)
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout) == document

    shown = adamlab("catalog", server=service.base_url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for section in ("datasets", "models", "optimizers", "schedules"):
        header = next(line for line in lines if line.startswith(f"{section} "))
        names = [component["name"] for component in document[section]]
        body = lines[lines.index(header) + 1 :]
        listed = [line.split(":")[0].strip() for line in body if re.match(r"^  \S", line)]
        assert listed[: len(names)] == names
    adam = next(c for c in document["optimizers"] if c["name"] == "adam")
    lr = next(p for p in adam["params"] if p["name"] == "lr")
    assert lr["default"] == 0.001 and lr["exclusive_minimum"] == 0
    assert any(re.fullmatch(r"\s+lr\s+number; default 0\.001; > 0, <= 1000", line)
               for line in lines)  # fmt: skip
    assert "experiment (the spec's top-level fields)" in shown.stdout
