"""Each member's own account while its group trains (``worker/batched.py``): where its
run goes and what it is asked (``MemberIO``, as ``worker.engine.run_experiment`` takes
them for a solo run), the iteration points it has not yet written, and how it ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.metrics import MetricPoint, Progress
from worker.engine import AfterEpoch
from worker.run_result import RunResult
from worker.sinks import MetricSink, NullSink


@dataclass
class MemberIO:
    """Where a member's run goes and what it is asked, as ``worker.engine.run_experiment``
    takes them for a solo run."""

    sink: MetricSink = field(default_factory=NullSink)
    folder: Path | None = None
    should_stop: Callable[[], bool] | None = None
    on_progress: Callable[[Progress], None] | None = None
    after_epoch: AfterEpoch | None = None
    on_end: Callable[[RunResult], None] | None = None
    """Called once the member has left the stack (its points written) with how it ended,
    while the others may still train: the worker records its end at once."""


class GroupMembers:
    """The accounts of the group's members, by their index in the group's specs."""

    def __init__(self, io: list[MemberIO]) -> None:
        self.io = io
        self.pending: list[list[MetricPoint]] = [[] for _ in io]
        self.ended: list[RunResult | None] = [None for _ in io]

    def add(self, member: int, points: list[MetricPoint]) -> None:
        """Points the member measured, written at its next ``write`` or ``flush``."""
        self.pending[member] += points

    def write(self, member: int) -> None:
        """Hand the member's pending points to its sink (one batch)."""
        if self.pending[member]:
            self.io[member].sink.write(self.pending[member])
            self.pending[member] = []

    def flush(self, member: int) -> None:
        """Write the member's pending points and have its sink store what it holds."""
        self.write(member)
        self.io[member].sink.flush()

    def end(self, member: int, result: RunResult) -> None:
        """The member's run is over: its points written, its ``on_end`` told how it ended."""
        self.flush(member)
        self.ended[member] = result
        on_end = self.io[member].on_end
        if on_end is not None:
            on_end(result)

    def report(self, member: int, progress: Progress) -> None:
        on_progress = self.io[member].on_progress
        if on_progress is not None:
            on_progress(progress)

    def results(self) -> list[RunResult]:
        """How each member ended, in the specs' order (every member has ended)."""
        results = []
        for result in self.ended:
            assert result is not None
            results.append(result)
        return results
