"""The service's metric sink: the engine's points go to the store in batches.

Points wait in memory until ``batch_size`` of them are buffered, or the oldest has waited
``flush_interval_s`` (checked at each write), or the engine calls ``flush()`` (at every
epoch's end and when the run stops); then they are written with one upsert statement
per chunk, keyed by (experiment, name, step), so a resumed run's rewritten points replace
the earlier ones. The curves a client reads therefore lag the run by at most about
``flush_interval_s`` plus the engine's own logging interval.

Each write, once committed, is published as a live ``points`` event
(``core.store.event_feed``; the API streams it to clients of ``/events``); a Redis that is
away costs the event, never the write.

A write that finds the store unreachable is tried again with backoff for up to
``outage_retry_s`` (``core.store.outage``); the engine waits meanwhile, so a database
restart loses no point. The upsert makes a repeated write harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from core.metrics import MetricPoint
from core.store.event_feed import announce_points
from core.store.metrics import upsert_metric_points
from core.store.outage import retry_while_store_unavailable
from core.store.session import session_scope


class StoreMetricSink:
    """A ``worker.sinks.MetricSink`` that writes to the store in batches."""

    def __init__(
        self,
        *,
        experiment_id: str,
        session_factory: sessionmaker[Session],
        batch_size: int,
        flush_interval_s: float,
        outage_retry_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self._experiment_id = experiment_id
        self._session_factory = session_factory
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._upsert = retry_while_store_unavailable(
            self._upsert_once,
            give_up_after_s=outage_retry_s,
            what=f"metric points of {experiment_id}",
        )
        self._buffer: list[MetricPoint] = []
        self._oldest_at: float | None = None
        self.batches_written = 0
        self.points_written = 0

    def write(self, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        if self._oldest_at is None:
            self._oldest_at = self._clock()
        self._buffer.extend(points)
        waited = self._clock() - self._oldest_at
        if len(self._buffer) >= self._batch_size or waited >= self._flush_interval_s:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        written = self._upsert(self._buffer)
        self.batches_written += 1
        self.points_written += written
        self._buffer = []
        self._oldest_at = None

    def _upsert_once(self, points: Sequence[MetricPoint]) -> int:
        with session_scope(self._session_factory) as session:
            written = upsert_metric_points(
                session=session, experiment_id=self._experiment_id, points=points
            )
            if written:
                announce_points(session, self._experiment_id, points)
            return written
