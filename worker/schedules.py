"""Learning-rate schedules as one pure function of the iteration: ``lr_at``.

``t`` is the 1-based global iteration. A schedule counted ``per="epoch"`` uses the 1-based
epoch of that iteration, ``e = ⌊(t − 1) / steps_per_epoch⌋ + 1``, so its rate is constant
within an epoch. A linear warm-up multiplies any schedule by ``min(1, t / warmup_steps)``.
"""

from __future__ import annotations

import math

from core.spec import ConstantSchedule, CosineSchedule, InverseSqrtSchedule, StepSchedule

ScheduleSpec = ConstantSchedule | InverseSqrtSchedule | StepSchedule | CosineSchedule


def lr_at(
    schedule: ScheduleSpec,
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
    if isinstance(schedule, ConstantSchedule):
        lr = base_lr
    elif isinstance(schedule, InverseSqrtSchedule):
        lr = base_lr / math.sqrt(_count(schedule.per, step, steps_per_epoch))
    elif isinstance(schedule, StepSchedule):
        t = _count(schedule.per, step, steps_per_epoch)
        lr = base_lr * schedule.gamma ** ((t - 1) // schedule.step_size)
    elif isinstance(schedule, CosineSchedule):
        lr_min = base_lr * schedule.min_lr_ratio
        progress = min(step - 1, total_steps) / total_steps
        lr = lr_min + (base_lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise TypeError(f"unknown schedule spec {type(schedule).__name__}")
    if schedule.warmup_steps:
        lr *= min(1.0, step / schedule.warmup_steps)
    return lr


def _count(per: str, step: int, steps_per_epoch: int) -> int:
    return step if per == "iteration" else (step - 1) // steps_per_epoch + 1
