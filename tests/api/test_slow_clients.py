"""Slow clients against the API as served (uvicorn with ``adamlab.http_protocol``): a
connection whose headers or body do not arrive within their timeout is answered 408 and
closed, also when it trickles bytes; connections beyond the cap are answered 503; normal
requests are served meanwhile, and a kept-alive connection is not cut between requests.

The API runs on a SQLite store and a private Redis with timeouts of 2 s, so each case
takes seconds (``benchmarks/slow_clients.py`` measures the defaults with 1,000 clients).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from adamlab.http_protocol import UVICORN_HTTP
from core.store.migrate import upgrade_to_head
from tests.support.env import REPO_ROOT, base_env
from tests.support.processes import (
    free_port,
    start_child,
    start_private_redis,
    stop_child,
    wait_until,
)

pytestmark = pytest.mark.slow

TIMEOUT_S = 2.0
"""ADAMLAB_HTTP_HEADER_TIMEOUT_S and ADAMLAB_HTTP_BODY_TIMEOUT_S of the server here."""
MAX_CONNECTIONS = 400
SLOW_CLIENTS = 300
CLOSE_SLACK_S = 1.5
"""How late after its deadline a connection may be closed, on a busy 2-core machine."""
HOST = "127.0.0.1"


@dataclass
class Server:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("slow-clients")
    store_url = f"sqlite:///{root / 'store.db'}"
    upgrade_to_head(store_url)
    redis, redis_url = start_private_redis(root / "redis", output=(root / "redis.log").open("wb"))
    port = free_port()
    env = base_env(
        DATABASE_URL=store_url,
        REDIS_URL=redis_url,
        ADAMLAB_STATE_DIR=str(root / "state"),
        ADAMLAB_AUTH="disabled",
        ADAMLAB_HTTP_HEADER_TIMEOUT_S=str(TIMEOUT_S),
        ADAMLAB_HTTP_BODY_TIMEOUT_S=str(TIMEOUT_S),
        ADAMLAB_HTTP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", HOST, "--port", str(port)]
    argv += ["--http", UVICORN_HTTP, "--log-level", "warning"]
    api = start_child(argv, env=env, cwd=REPO_ROOT, output=(root / "api.log").open("wb"))
    try:
        running = Server(port=port)

        def healthy() -> bool:
            if api.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {(root / 'api.log').read_text()}")
            try:
                return httpx.get(f"{running.base_url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout_s=60, what="the API answering /healthz")
        yield running
    finally:
        stop_child(api)
        stop_child(redis)


@dataclass
class Closed:
    after_s: float
    answer: bytes

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def slow_client(port: int, start: bytes, trickle: bytes) -> Closed:
    """Open a connection, send ``start``, then ``trickle`` every 0.2 s until the server
    closes it: when that was and what it answered."""
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(start)

    async def trickling() -> None:
        with contextlib.suppress(OSError):
            while True:
                await asyncio.sleep(0.2)
                if reader.at_eof():
                    return
                writer.write(trickle)
                await writer.drain()

    task = asyncio.create_task(trickling())
    answer = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=20):
            answer += chunk
    except ConnectionResetError:
        pass
    finally:
        task.cancel()
        writer.close()
    return Closed(after_s=time.monotonic() - opened, answer=answer)


def healthz_latencies(base_url: str, for_s: float) -> list[float]:
    """GET /healthz one after another (new connection each) for ``for_s`` seconds. Run in
    a process of its own, as benchmarks/slow_clients.py does: timed beside the slow
    clients' event loop, a request would wait on that loop opening hundreds of
    connections (and on its GIL), which is the client's delay, not the server's."""
    latencies: list[float] = []
    deadline = time.monotonic() + for_s
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while time.monotonic() < deadline or not latencies:
            started = time.perf_counter()
            response = client.get("/healthz", headers={"Connection": "close"})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            time.sleep(0.02)
    return latencies


def assert_closed_with_408_at_the_deadline(closed: list[Closed]) -> None:
    statuses = {connection.status for connection in closed}
    assert statuses == {408}, statuses
    latest = max(connection.after_s for connection in closed)
    earliest = min(connection.after_s for connection in closed)
    assert earliest >= TIMEOUT_S - 0.1, f"closed before the deadline: {earliest:.2f} s"
    assert latest <= TIMEOUT_S + CLOSE_SLACK_S, f"closed {latest:.2f} s after opening"


def test_slow_headers_are_408_and_closed_while_normal_requests_are_served(
    server: Server,
) -> None:
    async def slow_clients() -> list[Closed]:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        return list(
            await asyncio.gather(
                *(slow_client(server.port, head, b"X-a: b\r\n") for _ in range(SLOW_CLIENTS))
            )
        )

    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        pool.submit(time.sleep, 0).result(timeout=60)  # the process is up before the clients
        measuring = pool.submit(healthz_latencies, server.base_url, TIMEOUT_S + CLOSE_SLACK_S)
        closed = asyncio.run(slow_clients())
        latencies = measuring.result(timeout=60)
    assert len(closed) == SLOW_CLIENTS
    assert_closed_with_408_at_the_deadline(closed)
    assert b"ADAMLAB_HTTP_HEADER_TIMEOUT_S" in closed[0].answer
    assert len(latencies) >= 20
    # Lenient on this shared machine; benchmarks/slow_clients.py reports the real p99.
    assert statistics.quantiles(latencies, n=100)[98] < 0.5, sorted(latencies)[-5:]


def test_silent_connection_is_closed_after_the_header_timeout(server: Server) -> None:
    closed = asyncio.run(slow_client(server.port, b"", b""))
    assert_closed_with_408_at_the_deadline([closed])


def test_slow_body_is_408_and_closed(server: Server) -> None:
    head = (
        b"POST /v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n{"
    )

    async def scenario() -> list[Closed]:
        return list(
            await asyncio.gather(*(slow_client(server.port, head, b" ") for _ in range(50)))
        )

    closed = asyncio.run(scenario())
    assert_closed_with_408_at_the_deadline(closed)
    assert b"ADAMLAB_HTTP_BODY_TIMEOUT_S" in closed[0].answer


def test_kept_alive_connection_is_not_cut_between_requests(server: Server) -> None:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        socket = None
        for _ in range(4):  # 4 requests over ~2.4 s: longer than one header timeout
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            assert socket is None or connection.sock is socket, "the connection was cut"
            socket = connection.sock
            time.sleep(0.6)
    finally:
        connection.close()


def test_connections_beyond_the_cap_are_503(server: Server) -> None:
    extra = 20

    async def scenario() -> list[Closed]:
        return list(
            await asyncio.gather(
                *(slow_client(server.port, b"", b"") for _ in range(MAX_CONNECTIONS + extra))
            )
        )

    closed = asyncio.run(scenario())
    refused = [connection for connection in closed if connection.status == 503]
    assert len(refused) == extra, sorted({connection.status for connection in closed}, key=str)
    assert b"retry-after: 1" in refused[0].answer.lower()
    assert all(connection.after_s < TIMEOUT_S for connection in refused)
    assert {connection.status for connection in closed if connection.status != 503} == {408}
