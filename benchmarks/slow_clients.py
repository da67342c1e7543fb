"""Slow clients (slowloris) against the served API: 1,000 connections that send their
headers a line a second and never finish them, and meanwhile normal GET /healthz
requests, each on a new connection, as fast as one client sends them.

    .venv/bin/python benchmarks/slow_clients.py                # starts `adamlab serve` itself
    .venv/bin/python benchmarks/slow_clients.py --server http://127.0.0.1:8000

Without --server it runs ``adamlab serve`` on a free port with a temporary state folder and
the settings of the environment (default: ADAMLAB_HTTP_HEADER_TIMEOUT_S 10 s,
ADAMLAB_HTTP_MAX_CONNECTIONS 2048). It reports how many slow connections the server
closed, with which answer, and when (seconds after each opened), and the latency of the
normal requests while the slow ones were open. Target: every slow connection closed
within the header timeout (plus scheduling slack), normal requests' p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._common import latency_summary, report, service  # noqa: E402


async def slow_client(host: str, port: int, *, trickle_s: float) -> dict[str, Any]:
    """Open a connection, send a request line and a header line every ``trickle_s``, never
    the blank line that ends the headers; wait for the server to close it."""
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return {"status": f"connect failed: {exc.strerror}", "closed_after_s": None}
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")

    async def trickling() -> None:
        with contextlib.suppress(OSError):
            while not reader.at_eof():
                await asyncio.sleep(trickle_s)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()

    task = asyncio.create_task(trickling())
    answer = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=600):
            answer += chunk
    except ConnectionResetError:
        pass
    finally:
        task.cancel()
        writer.close()
    parts = answer.split(b" ", 2)
    status = parts[1].decode() if len(parts) > 1 else "closed without an answer"
    return {"status": status, "closed_after_s": time.monotonic() - opened}


def normal_requests(base_url: str, done: EventType, results: Queue[dict[str, Any]]) -> None:
    """GET /healthz, one after another, each on a new connection, until ``done`` is set;
    run in a process of its own, so that the slow clients' event loop does not delay it."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not done.is_set() or not latencies:
            started = time.perf_counter()
            try:
                response = client.get("/healthz", headers={"Connection": "close"})
                key = None if response.status_code == 200 else str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            if key is not None:
                failures[key] = failures.get(key, 0) + 1
            time.sleep(0.01)
    results.put(latency_summary(latencies) | {"failures": failures})


async def measure(base_url: str, *, connections: int, trickle_s: float) -> dict[str, Any]:
    url = urlsplit(base_url)
    assert url.hostname and url.port
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    results: Queue[dict[str, Any]] = context.Queue()
    normal_process = context.Process(target=normal_requests, args=(base_url, done, results))
    normal_process.start()
    started = time.monotonic()
    closed: list[dict[str, Any]] = await asyncio.gather(
        *(slow_client(url.hostname, url.port, trickle_s=trickle_s) for _ in range(connections))
    )
    done.set()
    normal = results.get(timeout=60)
    normal_process.join(timeout=30)
    statuses: dict[str, int] = {}
    for connection in closed:
        statuses[connection["status"]] = statuses.get(connection["status"], 0) + 1
    after = sorted(c["closed_after_s"] for c in closed if c["closed_after_s"] is not None)
    return {
        "slow_connections": connections,
        "closed": len(after),
        "answers": statuses,
        "closed_after_s": {
            "min": round(after[0], 2),
            "p50": round(statistics.median(after), 2),
            "max": round(after[-1], 2),
        },
        "all_closed_after_s": round(time.monotonic() - started, 2),
        "normal_healthz_meanwhile": normal,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="base URL of a running service (default: start one)")
    parser.add_argument("--connections", type=int, default=1000, help="slow connections")
    parser.add_argument(
        "--trickle-s", type=float, default=1.0, help="seconds between two header lines"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with service(args.server, state_prefix="adamlab-slow-") as base_url:
        figures = asyncio.run(
            measure(base_url, connections=args.connections, trickle_s=args.trickle_s)
        )
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
