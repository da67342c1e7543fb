"""The progress a loop reports: the fraction of the run, and a time to go from this
process's own speed (a resumed run's checkpointed steps are not counted as its speed)."""

from __future__ import annotations

import pytest

from worker.progress_clock import ProgressClock


def test_eta_extrapolates_the_steps_this_process_trained() -> None:
    # Resumed at step 100 of 400, 10 s ago, now at step 150: 50 steps in 10 s, 250 to go.
    clock = ProgressClock(epochs=4, total_steps=400, first_step=100, started=0.0)
    progress = clock.at(epoch=2, step=150, now=10.0)
    assert (progress.epoch, progress.epochs) == (2, 4)
    assert (progress.step, progress.total_steps) == (150, 400)
    assert progress.fraction == pytest.approx(0.375)
    assert progress.elapsed_s == pytest.approx(10.0)
    assert progress.eta_s == pytest.approx(50.0)


def test_eta_is_unknown_before_the_first_step_and_zero_at_the_end() -> None:
    clock = ProgressClock(epochs=1, total_steps=10, first_step=0, started=0.0)
    assert clock.at(epoch=1, step=0, now=1.0).eta_s is None
    assert clock.at(epoch=1, step=10, now=5.0).eta_s == 0.0
