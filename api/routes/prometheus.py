"""GET /metrics: the service's metrics in Prometheus' text format (see ``api.prometheus``).
No key needed: aggregates only, no tenant or experiment is named."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.prometheus import build_registry

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
def read_prometheus_metrics() -> Response:
    """Experiments by status and queue, queue depths, training steps per second, and a
    histogram of request latency by route template and method."""
    return Response(generate_latest(build_registry()), media_type=CONTENT_TYPE_LATEST)
