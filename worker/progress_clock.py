"""Where a run stands as it trains (``core.metrics.Progress``), for the solo loop, a
batched group and a test problem alike.

The time to go extrapolates this process's own speed on the steps it has done:
eta = elapsed · (total_steps − step) / (step − first_step), where ``first_step`` is the
step the process started from (a resumed run counts only what it trained itself, not the
checkpoint's steps) and ``elapsed`` its wall time since; None before its first step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.metrics import Progress


@dataclass(frozen=True)
class ProgressClock:
    """Started when the loop starts; ``at(epoch, step)`` is the progress after ``step``."""

    epochs: int
    total_steps: int
    first_step: int
    started: float = field(default_factory=time.perf_counter)

    def at(self, epoch: int, step: int, *, now: float | None = None) -> Progress:
        """``now``: the ``time.perf_counter()`` reading to use (default: read it)."""
        elapsed = (time.perf_counter() if now is None else now) - self.started
        done_here = step - self.first_step
        return Progress(
            epoch=epoch,
            epochs=self.epochs,
            step=step,
            total_steps=self.total_steps,
            fraction=step / self.total_steps,
            eta_s=elapsed * (self.total_steps - step) / done_here if done_here > 0 else None,
            elapsed_s=elapsed,
        )
