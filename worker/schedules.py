"""Learning-rate schedules as one pure function of the iteration: ``lr_at``.

``t`` is the 1-based global iteration. A schedule counted ``per="epoch"`` uses the 1-based
epoch of that iteration, ``e = ⌊(t − 1) / steps_per_epoch⌋ + 1``, so its rate is constant
within an epoch. A linear warm-up multiplies any schedule by ``min(1, t / warmup_steps)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.spec import (
    ConstantSchedule,
    CosineSchedule,
    InverseSqrtSchedule,
    ScheduleVariant,
    StepSchedule,
)


@dataclass(frozen=True)
class Position:
    """Where the run is: iteration ``step`` (1-based) of ``total_steps``, in epochs of
    ``steps_per_epoch`` iterations."""

    step: int
    steps_per_epoch: int
    total_steps: int

    def count(self, per: str) -> int:
        """t of a schedule counted ``per`` iteration or per epoch (both 1-based)."""
        return self.step if per == "iteration" else (self.step - 1) // self.steps_per_epoch + 1


def _constant(schedule: ConstantSchedule, base_lr: float, at: Position) -> float:
    return base_lr


def _inverse_sqrt(schedule: InverseSqrtSchedule, base_lr: float, at: Position) -> float:
    return base_lr / math.sqrt(at.count(schedule.per))


def _step(schedule: StepSchedule, base_lr: float, at: Position) -> float:
    return base_lr * schedule.gamma ** ((at.count(schedule.per) - 1) // schedule.step_size)


def _cosine(schedule: CosineSchedule, base_lr: float, at: Position) -> float:
    lr_min = base_lr * schedule.min_lr_ratio
    progress = min(at.step - 1, at.total_steps) / at.total_steps
    return lr_min + (base_lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


ScheduleRate = Callable[[Any, float, Position], float]
"""The rate of one schedule variant (its first argument, typed by each function)."""

SCHEDULE_RATES: dict[str, ScheduleRate] = {
    "constant": _constant,
    "inverse_sqrt": _inverse_sqrt,
    "step": _step,
    "cosine": _cosine,
}
"""The rate function of each schedule variant, by the variant's ``name``."""


def lr_at(
    schedule: ScheduleVariant,
    *,
    base_lr: float,
    step: int,
    steps_per_epoch: int,
    total_steps: int,
) -> float:
    """The learning rate of iteration ``step`` (1-based) for a run of ``total_steps``.

    - constant:      α
    - inverse_sqrt:  α / √t
    - step:          α · γ^⌊(t − 1) / step_size⌋
    - cosine:        α_min + (α − α_min) · (1 + cos(π (step − 1) / total_steps)) / 2,
                     α_min = α · min_lr_ratio
    with t the iteration or the epoch, per the schedule's ``per``.
    """
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if steps_per_epoch < 1 or total_steps < 1:
        raise ValueError("steps_per_epoch and total_steps must be >= 1")
    at = Position(step=step, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
    lr = SCHEDULE_RATES[schedule.name](schedule, base_lr, at)
    if schedule.warmup_steps:
        lr *= min(1.0, step / schedule.warmup_steps)
    return lr
