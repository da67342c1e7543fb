"""Where the engine's metrics go: the sink interface and its in-process implementations.

The engine hands points to ``sink.write(points)`` in batches (never one call per
iteration) and calls ``sink.flush()`` at each epoch end and when the run stops, so an
implementation may buffer between flushes. The service's store-backed sink lives in
``worker/store_sink.py``; this module holds the interface, a do-nothing sink and a list
sink for tests and the command line. A point is ``core.metrics.MetricPoint``, the same
type the store reads back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.metrics import MetricPoint


@runtime_checkable
class MetricSink(Protocol):
    """What the engine writes metrics to."""

    def write(self, points: Sequence[MetricPoint]) -> None:
        """Accept a batch of points (may buffer them until ``flush``)."""

    def flush(self) -> None:
        """Make every point written so far durable/visible."""


class NullSink:
    """Discards everything: for running the engine where nobody reads the metrics."""

    def write(self, points: Sequence[MetricPoint]) -> None:
        del points

    def flush(self) -> None:
        pass


class ListSink:
    """Keeps every point in memory, in the order written; ``(name, step)`` upserts, like
    the store, so a resumed run's re-written points replace the earlier ones."""

    def __init__(self) -> None:
        self._points: dict[tuple[str, int], MetricPoint] = {}
        self.write_calls = 0
        self.flush_calls = 0

    def write(self, points: Sequence[MetricPoint]) -> None:
        self.write_calls += 1
        for point in points:
            self._points[(point.name, point.step)] = point

    def flush(self) -> None:
        self.flush_calls += 1

    @property
    def points(self) -> list[MetricPoint]:
        """All points, ordered by step then name."""
        return sorted(self._points.values(), key=lambda p: (p.step, p.name))

    def series(self, name: str) -> list[MetricPoint]:
        """The points of one metric, ordered by step."""
        return [p for p in self.points if p.name == name]

    def values(self, name: str) -> list[float | None]:
        return [p.value for p in self.series(name)]

    def names(self) -> set[str]:
        return {p.name for p in self._points.values()}
