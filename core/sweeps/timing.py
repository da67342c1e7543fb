"""How soon a sweep's members reach a target value of the metric (AlgoPerf's time to
target), in iterations, training examples and seconds, and the performance profile of the
optimizers over the sweep's tasks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.sweeps.statistics import first_reach, performance_profile, performance_ratios

if TYPE_CHECKING:
    from core.metrics import MetricSeries
    from core.sweeps.report import MemberResult

TAU_MAX = 4.0
"""The profile's last τ: a method more than 4 times slower than the fastest on a task has
failed it, as in AlgoPerf."""
TAU_GRID: tuple[float, ...] = tuple(round(1.0 + 0.05 * i, 2) for i in range(61))
"""1, 1.05, …, 4: the τ of every profile, to which the τ where a curve steps are added."""


@dataclass(frozen=True)
class MemberTime:
    """When one member first reached the target: its ``epoch`` and that point's ``step``,
    the training ``examples`` seen by then and the ``seconds`` its epochs took; all None
    where it never did (``seconds`` also where its epoch times are not all known)."""

    experiment_id: str
    seed: int
    epoch: int | None
    step: int | None
    examples: int | None
    seconds: float | None


@dataclass(frozen=True)
class ConfigurationTimes:
    """A configuration's time to target: how many of its ``members`` (succeeded or stopped)
    ``reached`` it, and the median of each measure over all of them, a member that never
    reached counting as never (∞). A median is therefore finite, and given, only where
    more than half the members reached the target (None otherwise); the seconds' median is
    also None where a member that reached it lacks epoch times."""

    config_key: str
    members: int
    reached: int
    steps_median: float | None
    examples_median: float | None
    seconds_median: float | None
    per_member: list[MemberTime]


@dataclass(frozen=True)
class PerformanceProfile:
    """ρ(τ) of each optimizer (``methods``, at each τ of ``taus``) over ``tasks``, from
    ``times``: each optimizer's steps to target on each task (None: never)."""

    tasks: list[str]
    taus: list[float]
    methods: dict[str, list[float]]
    times: dict[str, list[float | None]]


def _seconds_until(epoch_seconds: MetricSeries | None, epoch: int) -> float | None:
    """The sum of the times of epochs 1 … ``epoch``; None unless each one is known."""
    if epoch_seconds is None:
        return None
    known = {e: v for e, v in zip(epoch_seconds.epochs, epoch_seconds.values, strict=True)
             if v is not None and math.isfinite(v)}  # fmt: skip
    if any(e not in known for e in range(1, epoch + 1)):
        return None
    return float(sum(known[e] for e in range(1, epoch + 1)))


def member_time(member: MemberResult, target: float, *, higher_is_better: bool) -> MemberTime:
    """The first point of ``member``'s curve that reaches ``target`` (``first_reach``):
    its epoch e and step; examples = step × batch size, at most e × the training examples
    per epoch where known (the last batch of an epoch may be smaller); seconds = the sum of
    the times of epochs 1 … e."""
    curve = member.curve
    index = first_reach(curve.values, target, higher_is_better=higher_is_better)
    if index is None:
        return MemberTime(member.experiment_id, member.seed, None, None, None, None)
    epoch, step = curve.epochs[index], curve.steps[index]
    examples = step * member.batch_size
    if member.train_examples is not None:
        examples = min(examples, epoch * member.train_examples)
    seconds = _seconds_until(member.epoch_seconds, epoch)
    return MemberTime(member.experiment_id, member.seed, epoch, step, examples, seconds)


def _median(values: Sequence[float | None], reached: Sequence[bool]) -> float | None:
    """The median with a member that did not reach as ∞; None where it is ∞ or a member
    that reached has no value."""
    if not values or any(r and v is None for v, r in zip(values, reached, strict=True)):
        return None
    spread = [v if r and v is not None else math.inf for v, r in zip(values, reached, strict=True)]
    middle = float(np.median(spread))
    return middle if math.isfinite(middle) else None


def configuration_times(
    config_key: str, members: Sequence[MemberResult], target: float, *, higher_is_better: bool
) -> ConfigurationTimes:
    """Each member's time to ``target`` (``member_time``) and their medians."""
    times = [member_time(m, target, higher_is_better=higher_is_better)
             for m in sorted(members, key=lambda m: (m.seed, m.experiment_id))]  # fmt: skip
    reached = [t.epoch is not None for t in times]
    return ConfigurationTimes(
        config_key=config_key,
        members=len(times),
        reached=sum(reached),
        steps_median=_median([t.step for t in times], reached),
        examples_median=_median([t.examples for t in times], reached),
        seconds_median=_median([t.seconds for t in times], reached),
        per_member=times,
    )


def performance_profile_of(
    times: Mapping[str, Sequence[float | None]], tasks: Sequence[str]
) -> PerformanceProfile:
    """The profile of ``times`` (each method's time on each of ``tasks``, None: never) at
    τ = ``TAU_GRID`` and every ratio within it where a method's ρ steps."""
    ratios = performance_ratios(times)
    steps = {r for row in ratios.values() for r in row if 1.0 <= r <= TAU_MAX}
    taus = sorted(set(TAU_GRID) | steps)
    return PerformanceProfile(
        tasks=list(tasks),
        taus=taus,
        methods=performance_profile(times, taus),
        times={method: list(row) for method, row in times.items()},
    )
