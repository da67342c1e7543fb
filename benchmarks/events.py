"""Live events: the delay from a metric write to its receipt by event-stream clients, and
the memory an open stream costs the API.

    .venv/bin/python benchmarks/events.py                 # 1 and 200 streams, ~1 minute
    .venv/bin/python benchmarks/events.py --streams 1 50 --seconds 10 --json out.json

It starts a private Redis, a SQLite store and one API process (uvicorn, as served), and
submits an experiment to the gpu queue, where no worker takes it. This process then plays
the worker's sink: a ``StoreMetricSink`` writes ``--points`` points every
``--interval-s`` to the store and publishes them (``core.store.event_feed``), and the time
of each publish is recorded (the ``published_at`` of the Redis message). ``--client-
processes`` processes hold the streams of ``/v1/experiments/{id}/events`` (asyncio, httpx)
and stamp each points event as its last line arrives. The delay of a point's event for a
stream is receipt - publish (one clock: one machine), one sample per event and stream.
Memory: the API process's resident set (VmRSS) with the streams open and idle, minus it
with none (after one stream has warmed the subscription), divided by the streams.
Target: p99 < 250 ms with 200 streams. Last, the history: ``--history-points`` points
stored at once, and the time a new stream takes to send them all (a page opened on a
finished run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from adamlab.http_protocol import UVICORN_HTTP  # noqa: E402
from adamlab.processes import (  # noqa: E402
    free_port,
    start_child,
    start_private_redis,
    stop_child,
    wait_until,
)
from benchmarks._common import latency_summary, report  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- the clients (one process per share of the streams) -------------------------------------


async def _hold_streams(
    base_url: str, path: str, streams: int, opened: Any, stop: EventType
) -> list[tuple[int, float]]:
    """Open ``streams`` streams; (first step of each points event, receipt time) per event."""
    receipts: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:

        async def one() -> None:
            headers = {"Accept": "text/event-stream"}
            async with client.stream("GET", path, headers=headers) as response:
                response.raise_for_status()
                with opened.get_lock():
                    opened.value += 1
                kind = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:") and kind == "points":
                        now = time.time()
                        # The first point's step, without parsing the rest (light clients).
                        at = line.index('"step":') + 7
                        receipts.append((int(line[at : line.index(",", at)]), now))

        tasks = [asyncio.create_task(one()) for _ in range(streams)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return receipts


def client_process(
    base_url: str, path: str, streams: int, opened: Any, stop: EventType, out: Any
) -> None:
    receipts = asyncio.run(_hold_streams(base_url, path, streams, opened, stop))
    out.put(receipts)


# --- the run ----------------------------------------------------------------------------------


def measure(
    *,
    base_url: str,
    api_pid: int,
    experiment_id: str,
    streams: int,
    client_processes: int,
    seconds: float,
    points: int,
    interval_s: float,
) -> dict[str, Any]:
    """Open ``streams`` streams on a new experiment, write for ``seconds``; the figures."""
    from core.store import event_feed
    from core.store.session import default_session_factory
    from worker.store_sink import StoreMetricSink

    published: dict[int, float] = {}
    original = event_feed.publish

    def publish_stamped(*events: Any) -> bool:
        stamp = time.time()
        for event in events:
            if event.data.get("points"):
                published[event.data["points"][0]["step"]] = stamp
        return original(*events)

    event_feed.publish = publish_stamped  # type: ignore[assignment]
    path = f"/v1/experiments/{experiment_id}/events"
    context = multiprocessing.get_context("spawn")
    opened, stop, out = context.Value("i", 0), context.Event(), context.Queue()
    shares = [streams // client_processes + (i < streams % client_processes)
              for i in range(min(client_processes, streams))]  # fmt: skip
    clients = [
        context.Process(target=client_process, args=(base_url, path, share, opened, stop, out))
        for share in shares
    ]
    rss_before = rss_bytes(api_pid)
    for client in clients:
        client.start()
    wait_until(lambda: opened.value == streams, timeout_s=120, what=f"{streams} streams open")
    time.sleep(1.0)  # each stream's history read, then idle
    rss_open = rss_bytes(api_pid)
    from core.metrics import MetricPoint

    sink = StoreMetricSink(
        experiment_id=experiment_id,
        session_factory=default_session_factory(),
        batch_size=10**6,
        flush_interval_s=3600.0,
    )
    step = 1
    cpu_before = cpu_seconds(api_pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        batch = [
            MetricPoint("batch_loss", s, 1.0 / s, 1) for s in range(step, step + points // 2)
        ] + [MetricPoint("lr", s, 0.001, 1) for s in range(step, step + points // 2)]
        sink.write(batch)
        sink.flush()
        step += points // 2
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    time.sleep(2.0)  # the last events arrive
    api_cpu_s = cpu_seconds(api_pid) - cpu_before
    stop.set()
    receipts: list[tuple[int, float]] = []
    for _ in clients:
        receipts += out.get(timeout=60)
    for client in clients:
        client.join(timeout=30)
    event_feed.publish = original  # type: ignore[assignment]
    delays = [at - published[first] for first, at in receipts if first in published]
    expected = len(published) * streams
    figures = {
        "streams": streams,
        "events_published": len(published),
        "points_per_event": points,
        "receipts": len(delays),
        "receipts_expected": expected,
        "delay": latency_summary(delays) if delays else None,
        "api_cpu_s": round(api_cpu_s, 2),
        "api_cpu_us_per_event_and_stream": round(api_cpu_s / max(1, len(delays)) * 1e6, 1),
        "rss_delta_per_stream_kib": round((rss_open - rss_before) / streams / 1024, 1),
        "api_rss_mib": round(rss_open / 2**20, 1),
    }
    return figures


def replay(*, base_url: str, experiment_id: str, points: int) -> dict[str, Any]:
    """Store ``points`` points (half ``batch_loss``, half ``lr``), then time a new stream
    until it has had them all: the history a page opened on a finished run reads."""
    from core.metrics import MetricPoint
    from core.store.session import default_session_factory
    from worker.store_sink import StoreMetricSink

    sink = StoreMetricSink(
        experiment_id=experiment_id,
        session_factory=default_session_factory(),
        batch_size=10**7,
        flush_interval_s=3600.0,
    )
    half = points // 2
    sink.write([MetricPoint("batch_loss", s, 1.0 / s, 1) for s in range(1, half + 1)])
    sink.write([MetricPoint("lr", s, 0.001, 1) for s in range(1, half + 1)])
    sink.flush()
    received, events = 0, 0
    started = time.perf_counter()
    path = f"{base_url}/v1/experiments/{experiment_id}/events"
    with httpx.stream("GET", path, timeout=httpx.Timeout(60.0)) as response:
        kind, first_at = "", None
        answered_at = time.perf_counter()
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == "points":
                first_at = first_at or time.perf_counter()
                received += len(json.loads(line[5:])["points"])
                events += 1
                if received >= 2 * half:
                    break
    elapsed = time.perf_counter() - started
    return {
        "history_points": received,
        "history_events": events,
        "answer_after_ms": round((answered_at - started) * 1000, 1),
        "first_points_after_ms": round(((first_at or started) - started) * 1000, 1),
        "all_points_after_s": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--points", type=int, default=100, help="points per write (even)")
    parser.add_argument("--interval-s", type=float, default=0.2)
    parser.add_argument("--history-points", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="adamlab-events-") as state:
        redis, redis_url = start_private_redis(Path(state) / "redis")
        env = dict(os.environ) | {
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{state}/adamlab.db",
            "ADAMLAB_STATE_DIR": state,
            "ADAMLAB_AUTH": "disabled",
            "ADAMLAB_NO_WORKER_TIMEOUT_S": "0",
        }
        from core.settings import settings

        # This process writes to the same store and broker (settings were read at import).
        settings.redis_url, settings.database_url = redis_url, env["DATABASE_URL"]
        api = None
        try:
            migrate = [sys.executable, "-m", "adamlab.cli", "migrate"]
            start_child(migrate, env=env, cwd=REPO_ROOT).wait(timeout=120)
            port = free_port()
            argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)]
            argv += ["--log-level", "warning", "--http", UVICORN_HTTP]
            with (Path(state) / "api.log").open("wb") as log:
                api = start_child(argv, env=env, cwd=REPO_ROOT, output=log)
            base_url = f"http://127.0.0.1:{port}"

            def ready() -> bool:
                try:
                    return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout_s=60, what="the API answering /readyz")
            body = {"dataset": {"name": "digits"}, "model": {"name": "logistic_regression"},
                    "device": "cuda", "name": "events-benchmark"}  # fmt: skip
            runs = []
            for streams in args.streams:
                # A new experiment each run: the streams have no history to read first.
                experiment_id = httpx.post(f"{base_url}/v1/experiments", json=body).json()["id"]
                # One stream first: the subscription and the imports are in the baseline.
                path = f"{base_url}/v1/experiments/{experiment_id}/events"
                with httpx.stream("GET", path) as response:
                    next(response.iter_lines())
                time.sleep(0.5)
                figures = measure(
                    base_url=base_url,
                    api_pid=api.pid,
                    experiment_id=experiment_id,
                    streams=streams,
                    client_processes=args.client_processes,
                    seconds=args.seconds,
                    points=args.points,
                    interval_s=args.interval_s,
                )
                runs.append(figures)
                print(json.dumps(figures), flush=True)
                time.sleep(1.0)
            experiment_id = httpx.post(f"{base_url}/v1/experiments", json=body).json()["id"]
            history = replay(
                base_url=base_url, experiment_id=experiment_id, points=args.history_points
            )
            print(json.dumps(history), flush=True)
            report(
                {
                    "machine": f"{os.cpu_count()} CPUs ({os.uname().machine}), "
                    f"Python {sys.version.split()[0]}",
                    "store": "SQLite",
                    "write_interval_s": args.interval_s,
                    "runs": runs,
                    "history": history,
                },
                args.json,
            )
        finally:
            if api is not None:
                stop_child(api)
            stop_child(redis)


if __name__ == "__main__":
    main()
