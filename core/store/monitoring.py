"""Aggregates over every tenant's experiments, for monitoring (``api/prometheus.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.models import ExperimentRow, ExperimentStatus, utc_now


def count_by_status_and_queue(*, session: Session) -> dict[tuple[str, str], int]:
    """How many experiments of all tenants are in each (status, queue)."""
    rows = session.execute(
        select(ExperimentRow.status, ExperimentRow.queue, func.count()).group_by(
            ExperimentRow.status, ExperimentRow.queue
        )
    )
    return {(status, queue): count for status, queue, count in rows}


def training_steps_per_second(
    *, session: Session, heartbeat_timeout_s: float, now: datetime | None = None
) -> float:
    """The training speed of the service now: the sum over running experiments with a live
    heartbeat of each one's own speed, ``(total_steps - step) / eta_s`` (its worker
    computes ``eta_s`` from the speed it measures, so this gives that speed back)."""
    live_after = (now or utc_now()) - timedelta(seconds=heartbeat_timeout_s)
    rows = session.execute(
        select(ExperimentRow.total_steps, ExperimentRow.step, ExperimentRow.eta_s).where(
            ExperimentRow.status == ExperimentStatus.RUNNING,
            ExperimentRow.heartbeat_at >= live_after,
            ExperimentRow.eta_s > 0,
            ExperimentRow.total_steps > ExperimentRow.step,
        )
    )
    # The WHERE clause compares each of the three columns, so none is NULL here.
    live = cast(Iterable[tuple[int, int, float]], rows)
    return float(sum((total - step) / eta_s for total, step, eta_s in live))
