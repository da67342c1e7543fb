"""A PostgreSQL server of one test's own, which the test may stop and start again: initdb
and pg_ctl of the machine's PostgreSQL binaries, on 127.0.0.1 at a free port, trust auth,
its data in a fresh folder. Run as the ``postgres`` user when the tests run as root
(PostgreSQL refuses root). No binaries: the test skips, or fails under CI=true."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.env import server_unavailable
from tests.support.processes import free_port

START_TIMEOUT_S = 60


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@dataclass
class ThrowawayPostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3) of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [*self.as_user, str(self.bin_dir / argv[0]), *argv[1:]]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:1])} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.data_dir / "server.log"
        self._run(
            "pg_ctl",
            *("-D", str(self.data_dir), "-l", str(log), "-o", options),
            *("-w", "-t", str(START_TIMEOUT_S), "start"),
        )

    def stop(self) -> None:
        """Fast shutdown: open connections are terminated, as in a restart."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        server_unavailable("no PostgreSQL binaries (pg_ctl, initdb) for a throwaway server")
        raise AssertionError("unreachable")
    # Not under pytest's tmp_path: that folder is private to root, and the server runs as
    # postgres when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="adamlab-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = ThrowawayPostgres(
        bin_dir=bin_dir, data_dir=folder / "data", port=free_port(), as_user=as_user
    )
    try:
        server._run("initdb", "-D", str(server.data_dir), "-U", "postgres", "-A", "trust", "-N")
        server.start()
        yield server
    finally:
        if server.running():
            try:
                server.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                server._run("pg_ctl", "-D", str(server.data_dir), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
