"""What GET /metrics reports, in Prometheus' text format.

- ``adamlab_http_request_duration_seconds{method, route}``: a histogram of request
  latency, from arrival to the end of the response, by route template
  (``/v1/experiments/{experiment_id}``, never the id itself, so the label set stays small;
  ``unmatched`` for paths no route serves). Measured by ``RequestLatencyMiddleware``.
- ``adamlab_experiments{status, queue}``: experiments in the store, all tenants together.
- ``adamlab_queue_depth{queue}``: messages waiting in the broker's cpu and gpu queues.
- ``adamlab_broker_up``: 1 when the broker answered this scrape, else 0 (and no depths).
- ``adamlab_training_steps_per_second``: the sum of the running experiments' speeds.

The gauges are read from the store and the broker at each scrape, so every API process
reports the same values. The latency histogram lives in each process; with several
(``uvicorn --workers N``), set ``PROMETHEUS_MULTIPROC_DIR`` to a directory they share,
emptied before they start, and each scrape sums all of them.

No tenant appears in any label and no experiment is named: /metrics needs no key and
tells a caller only aggregates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from core.celery_app import QUEUES, BrokerUnavailableError
from core.queue_depth import queue_depths
from core.settings import settings
from core.store.models import ExperimentStatus
from core.store.monitoring import count_by_status_and_queue, training_steps_per_second
from core.store.session import session_scope

UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    "adamlab_http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its response, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,  # added to each scrape's registry by build_registry
)


class RequestLatencyMiddleware:
    """Observe every HTTP request's latency under its route's template (pure ASGI: the
    route is known once the router has matched, as ``scope["route"]``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            REQUEST_LATENCY.labels(method=method, route=route).observe(
                time.perf_counter() - started
            )


class ServiceCollector(Collector):
    """The store's and the broker's gauges, read when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        with session_scope() as session:
            counts = count_by_status_and_queue(session=session)
            speed = training_steps_per_second(
                session=session, heartbeat_timeout_s=settings.heartbeat_timeout_s
            )
        experiments = GaugeMetricFamily(
            "adamlab_experiments",
            "Experiments in the store by status and queue, all tenants together.",
            labels=["status", "queue"],
        )
        for status in ExperimentStatus:
            for queue in QUEUES:
                experiments.add_metric([status.value, queue], counts.get((status, queue), 0))
        yield experiments
        yield GaugeMetricFamily(
            "adamlab_training_steps_per_second",
            "Training iterations per second, summed over running experiments with a live "
            "heartbeat (each one's (total_steps - step) / eta_s).",
            value=speed,
        )
        depths: dict[str, int] | None = None
        if settings.redis_url is not None:
            try:
                depths = queue_depths(settings.redis_url)
            except BrokerUnavailableError:
                depths = None
        yield GaugeMetricFamily(
            "adamlab_broker_up",
            "1 when the broker answered this scrape, else 0.",
            value=0 if depths is None else 1,
        )
        if depths is not None:
            depth = GaugeMetricFamily(
                "adamlab_queue_depth",
                "Jobs waiting in the broker's queue for a worker.",
                labels=["queue"],
            )
            for queue, waiting in depths.items():
                depth.add_metric([queue], waiting)
            yield depth


SERVICE_COLLECTOR = ServiceCollector()


def build_registry() -> CollectorRegistry:
    """What one scrape reports: the service's gauges and the request latencies, of this
    process, or of every process that shares PROMETHEUS_MULTIPROC_DIR."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SERVICE_COLLECTOR)
    if settings.prometheus_multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    else:
        registry.register(REQUEST_LATENCY)
        ProcessCollector(registry=registry)
    return registry
