"""What the service benchmarks share: ``adamlab serve`` started on a free port and waited
on (or a running service given with --server), latency figures (nearest-rank percentiles,
in milliseconds) and their report. The scripts put the repository's root on ``sys.path``
before they import this."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from adamlab.processes import free_port, start_child, stop_child, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVE_START_TIMEOUT_S = 120.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def latency_summary(values_s: list[float]) -> dict[str, float]:
    """Count, median, 99th percentile and maximum of latencies given in seconds, in ms."""
    ms = [value * 1000 for value in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }


def serve_env(state: Path | str) -> dict[str, str]:
    """This process's environment for ``adamlab serve`` with ``state`` as its state folder.
    One torch thread per worker (tiny models on a shared machine) unless
    ADAMLAB_TORCH_THREADS is set in the environment."""
    return {"ADAMLAB_TORCH_THREADS": "1"} | dict(os.environ) | {"ADAMLAB_STATE_DIR": str(state)}


@contextlib.contextmanager
def adamlab_serve(env: Mapping[str, str], *, concurrency: int = 1) -> Iterator[str]:
    """``adamlab serve`` on a free port with ``env`` (``serve_env``), its worker running
    ``concurrency`` jobs at once, its output in serve.log of its state folder; its URL once
    /readyz answers. Stopped at the end."""
    state = Path(env["ADAMLAB_STATE_DIR"])
    port = free_port()
    argv = [sys.executable, "-m", "adamlab.cli", "serve", "--port", str(port)]
    argv += ["--concurrency", str(concurrency)]
    base_url = f"http://127.0.0.1:{port}"
    with (state / "serve.log").open("wb") as log:
        serve = start_child(argv, env=env, cwd=REPO_ROOT, output=log)
        try:

            def ready() -> bool:
                if serve.poll() is not None:
                    raise RuntimeError(f"adamlab serve exited; see {state / 'serve.log'}")
                try:
                    return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(
                ready, timeout_s=SERVE_START_TIMEOUT_S, what="adamlab serve answering /readyz"
            )
            yield base_url
        finally:
            stop_child(serve)


@contextlib.contextmanager
def service(server: str | None, *, state_prefix: str, concurrency: int = 1) -> Iterator[str]:
    """The base URL of ``server`` when given; else of ``adamlab serve`` (its worker running
    ``concurrency`` jobs at once) on a temporary state folder (named with ``state_prefix``),
    both gone when the block ends."""
    if server is not None:
        yield server
        return
    with (
        tempfile.TemporaryDirectory(prefix=state_prefix) as state,
        adamlab_serve(serve_env(state), concurrency=concurrency) as base_url,
    ):
        yield base_url


def report(figures: dict[str, Any], json_path: Path | None) -> None:
    """Print ``figures`` as JSON; write them to ``json_path`` too when given."""
    print(json.dumps(figures, indent=2))
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
