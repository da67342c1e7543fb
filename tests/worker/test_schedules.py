"""Learning-rate schedules: the formulas of ``lr_at``."""

from __future__ import annotations

import math

import pytest

from core.spec import ConstantSchedule, CosineSchedule, InverseSqrtSchedule, StepSchedule
from worker.schedules import lr_at


def _lr(schedule, step: int, *, steps_per_epoch: int = 10, total_steps: int = 100) -> float:
    return lr_at(
        schedule, base_lr=0.1, step=step, steps_per_epoch=steps_per_epoch, total_steps=total_steps
    )


def test_constant_is_alpha() -> None:
    assert [_lr(ConstantSchedule(name="constant"), t) for t in (1, 50, 100)] == [0.1] * 3


def test_inverse_sqrt_per_epoch_is_constant_within_an_epoch() -> None:
    schedule = InverseSqrtSchedule(name="inverse_sqrt")
    assert _lr(schedule, 1) == _lr(schedule, 10) == 0.1
    assert _lr(schedule, 11) == pytest.approx(0.1 / math.sqrt(2))
    assert _lr(schedule, 100) == pytest.approx(0.1 / math.sqrt(10))


def test_inverse_sqrt_per_iteration_decays_every_step() -> None:
    schedule = InverseSqrtSchedule(name="inverse_sqrt", per="iteration")
    assert [_lr(schedule, t) for t in (1, 4, 100)] == pytest.approx([0.1, 0.05, 0.01])


def test_step_decays_by_gamma_every_step_size() -> None:
    schedule = StepSchedule(name="step", step_size=3, gamma=0.5)
    epochs = [1, 3, 4, 6, 7]
    assert [_lr(schedule, (e - 1) * 10 + 1) for e in epochs] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025]
    )
    per_iteration = StepSchedule(name="step", step_size=2, gamma=0.1, per="iteration")
    assert [_lr(per_iteration, t) for t in (1, 2, 3)] == pytest.approx([0.1, 0.1, 0.01])


def test_cosine_goes_from_alpha_to_the_floor() -> None:
    schedule = CosineSchedule(name="cosine", min_lr_ratio=0.1)
    assert _lr(schedule, 1) == pytest.approx(0.1)
    assert _lr(schedule, 51) == pytest.approx(0.01 + 0.09 * 0.5)
    assert _lr(schedule, 100) == pytest.approx(0.01, abs=1e-4)


def test_warmup_ramps_linearly_in_front_of_any_schedule() -> None:
    for schedule in (
        ConstantSchedule(name="constant", warmup_steps=4),
        InverseSqrtSchedule(name="inverse_sqrt", warmup_steps=4),
    ):
        assert [_lr(schedule, t) for t in (1, 2, 4, 5)] == pytest.approx([0.025, 0.05, 0.1, 0.1])


def test_step_zero_is_an_error() -> None:
    with pytest.raises(ValueError, match="step"):
        _lr(ConstantSchedule(name="constant"), 0)
