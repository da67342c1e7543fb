"""A sweep's report, assembled from plain inputs (one ``MemberResult`` per member; no store,
no HTTP): which configuration is best and how sure that is, how the result depends on the
learning rate, the learning curves, how soon each configuration reaches a target, and how
the optimizers compare across tasks.

The statistics are ``core.sweeps.statistics``': per configuration the IQM of its seeds'
final values with a 95% bootstrap interval (rliable), the learning-rate sensitivity of
DeepOBS, AlgoPerf's time to target and performance profile. ``SweepReport.to_json`` is what
the API returns; ``SweepReport.to_csv`` is one row per configuration.

Which members count: a member's final value is the last point of its curve, and only
succeeded members with a finite final value enter the statistics. Early-stopped members
(``stopped``) are listed with their status and stop reason but left out of the statistics
(their last value is from an earlier epoch than the others'); their curves still enter the
learning curves and the times to target, since what they measured before stopping is real.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from core.metrics import METRICS, MetricSeries
from core.sweeps.report_csv import report_csv
from core.sweeps.statistics import estimate, probability_of_improvement, quantile_band, quartiles
from core.sweeps.timing import (
    ConfigurationTimes,
    PerformanceProfile,
    configuration_times,
    performance_profile_of,
)

Goal = Literal["maximize", "minimize"]
GOALS: tuple[Goal, ...] = ("maximize", "minimize")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "stopped")
"""A member's statuses (``stopped``: stopped early by the sweep's rule), in counting order."""
CURVE_STATUSES = ("succeeded", "stopped")
"""Members whose curves enter the learning curves and the times to target."""


@dataclass(frozen=True)
class MemberResult:
    """What the report needs of one member (a configuration run with one seed)."""

    experiment_id: str
    config_key: str
    """Identifies the configuration: the same for all its seeds."""
    params: dict[str, object]
    """The swept values, e.g. ``{"optimizer.name": "adam", "optimizer.lr": 0.001}``."""
    seed: int
    status: str
    """queued, running, succeeded, failed, cancelled or stopped (stopped early)."""
    stop_reason: str | None
    optimizer: str
    """The member spec's ``optimizer.name``."""
    lr: float
    """The member spec's ``optimizer.lr``."""
    task: str
    """``"<dataset>/<model>"``, e.g. ``"mnist/mlp"``: what a performance profile compares over."""
    batch_size: int
    train_examples: int | None
    """Training examples per epoch (None if unknown)."""
    curve: MetricSeries
    """The sweep metric's points (a per-epoch metric: epochs, steps, values)."""
    epoch_seconds: MetricSeries | None
    """``epoch_time_s`` points, for seconds to target (None if unknown)."""


@dataclass(frozen=True)
class MemberSummary:
    """One member as the report lists it: ``final`` is its curve's last value (None where
    it has none or it is not finite), ``in_statistics`` whether that value counts."""

    experiment_id: str
    seed: int
    status: str
    stop_reason: str | None
    final: float | None
    in_statistics: bool


@dataclass(frozen=True)
class ConfigurationResult:
    """One configuration: its seeds' final values summed up (``core.sweeps.statistics.
    estimate``: median, IQM, mean and the bootstrap interval of the IQM; None where no
    seed counts) and its ``rank`` by IQM (1 is best; None without a value)."""

    rank: int | None
    config_key: str
    params: dict[str, object]
    optimizer: str
    lr: float
    task: str
    n: int
    median: float | None
    iqm: float | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    members: list[MemberSummary]

    def seed_values(self) -> dict[int, float]:
        """The final value of each seed that counts, by seed."""
        return {m.seed: m.final for m in self.members if m.in_statistics and m.final is not None}


@dataclass(frozen=True)
class Best:
    """The top configuration: its IQM (``value``) and interval, and its members' ids."""

    config_key: str
    params: dict[str, object]
    optimizer: str
    lr: float
    task: str
    value: float
    ci_low: float | None
    ci_high: float | None
    member_ids: list[str]


@dataclass(frozen=True)
class SensitivityPoint:
    """The final values at one learning rate: median and quartiles over ``n`` seeds of the
    configuration ``config_key``."""

    lr: float
    median: float
    q25: float
    q75: float
    n: int
    config_key: str


@dataclass(frozen=True)
class Sensitivity:
    """One optimizer's final metric against its learning rate on one task, by lr."""

    task: str
    optimizer: str
    points: list[SensitivityPoint]


@dataclass(frozen=True)
class ConfigurationCurve:
    """A configuration's learning curve: at each epoch the median and quartiles over its
    members' curves (``n`` of them measured there)."""

    config_key: str
    epochs: list[int]
    median: list[float | None]
    q25: list[float | None]
    q75: list[float | None]
    n: list[int]


@dataclass(frozen=True)
class OptimizerImprovement:
    """P(x > y): the probability that optimizer ``x`` beats ``y`` on one of ``tasks``, each
    optimizer by its best configuration on each task (``statistics.
    probability_of_improvement``)."""

    x: str
    y: str
    tasks: list[str]
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class SweepReport:
    """A sweep's report; ``configurations`` are in rank order (those without a value
    last). ``time_to_target`` is None without a target; ``performance_profile`` is None
    unless a target is given and the members span two or more tasks."""

    metric: str
    goal: Goal
    target: float | None
    confidence: float
    counts: dict[str, int]
    configurations: list[ConfigurationResult]
    best: Best | None
    sensitivity: list[Sensitivity]
    curves: list[ConfigurationCurve]
    time_to_target: list[ConfigurationTimes] | None
    probability_of_improvement: list[OptimizerImprovement]
    performance_profile: PerformanceProfile | None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values: field names as above, None for anything missing or
        not finite (JSON has no NaN)."""
        return _json_safe(asdict(self))

    def to_csv(self) -> str:
        """One row per configuration in rank order (``core.sweeps.report_csv``)."""
        return report_csv(self)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _final(member: MemberResult) -> float | None:
    values = member.curve.values
    last = values[-1] if values else None
    return last if last is not None and math.isfinite(last) else None


def _configuration(members: Sequence[MemberResult], confidence: float) -> ConfigurationResult:
    first = members[0]
    summaries = []
    for member in sorted(members, key=lambda m: (m.seed, m.experiment_id)):
        final = _final(member)
        counts = member.status == "succeeded" and final is not None
        summaries.append(MemberSummary(member.experiment_id, member.seed, member.status,
                                       member.stop_reason, final, counts))  # fmt: skip
    seeds = [m.seed for m in summaries if m.in_statistics]
    if len(seeds) != len(set(seeds)):
        raise ValueError(f"configuration {first.config_key!r} has a seed twice: {seeds}")
    values = [m.final for m in summaries if m.in_statistics and m.final is not None]
    stats = estimate(values, confidence=confidence) if values else None
    return ConfigurationResult(
        rank=None,
        config_key=first.config_key,
        params=dict(first.params),
        optimizer=first.optimizer,
        lr=first.lr,
        task=first.task,
        n=len(values),
        median=stats.median if stats else None,
        iqm=stats.iqm if stats else None,
        mean=stats.mean if stats else None,
        ci_low=stats.ci_low if stats else None,
        ci_high=stats.ci_high if stats else None,
        members=summaries,
    )


def _ranked(configs: list[ConfigurationResult], goal: Goal) -> list[ConfigurationResult]:
    """By IQM in the goal's direction, ties by config_key; those without a value last."""
    sign = -1.0 if goal == "maximize" else 1.0
    valued = sorted((c for c in configs if c.iqm is not None),
                    key=lambda c: (sign * (c.iqm or 0.0), c.config_key))  # fmt: skip
    rest = sorted((c for c in configs if c.iqm is None), key=lambda c: c.config_key)
    ranked = [replace(c, rank=rank) for rank, c in enumerate(valued, start=1)]
    return ranked + rest


def _best(config: ConfigurationResult) -> Best:
    assert config.iqm is not None
    return Best(config.config_key, config.params, config.optimizer, config.lr, config.task,
                config.iqm, config.ci_low, config.ci_high,
                [m.experiment_id for m in config.members])  # fmt: skip


def _sensitivity(ranked: list[ConfigurationResult]) -> list[Sensitivity]:
    """Per (task, optimizer), a point per learning rate: the quartiles of the seeds' final
    values of the configuration at that lr. Where several configurations share the task,
    optimizer and lr (another parameter differs), the point is the best of them by IQM,
    with that configuration's seeds (the lr's best achievable result, as in DeepOBS)."""
    chosen: dict[tuple[str, str], dict[float, ConfigurationResult]] = {}
    for config in ranked:  # best first: the first at an lr is its best
        if config.n:
            chosen.setdefault((config.task, config.optimizer), {}).setdefault(config.lr, config)
    result = []
    for (task, optimizer), by_lr in sorted(chosen.items()):
        points = []
        for lr, config in sorted(by_lr.items()):
            q25, median, q75 = quartiles(list(config.seed_values().values()))
            points.append(SensitivityPoint(lr, median, q25, q75, config.n, config.config_key))
        result.append(Sensitivity(task, optimizer, points))
    return result


def _curve(config_key: str, members: Sequence[MemberResult]) -> ConfigurationCurve:
    """The members' curves aligned by epoch (a member without a point at an epoch is left
    out there, e.g. after it stopped early), and the quartiles at each epoch."""
    by_epoch = [dict(zip(m.curve.epochs, m.curve.values, strict=True)) for m in members]
    epochs = sorted({epoch for curve in by_epoch for epoch in curve})
    rows = [[curve.get(epoch) for epoch in epochs] for curve in by_epoch]
    q25, median, q75 = quantile_band(rows)
    counts = [
        sum(v is not None and math.isfinite(v) for v in column)
        for column in zip(*rows, strict=True)
    ]
    return ConfigurationCurve(config_key, epochs, median, q25, q75, counts)


def _best_per_task(ranked: list[ConfigurationResult]) -> dict[str, dict[str, list[float]]]:
    """optimizer → task → the seeds' final values of its best configuration there."""
    best: dict[str, dict[str, list[float]]] = {}
    for config in ranked:
        if config.n:
            best.setdefault(config.optimizer, {}).setdefault(
                config.task, list(config.seed_values().values())
            )
    return best


def _improvements(
    ranked: list[ConfigurationResult], goal: Goal, confidence: float
) -> list[OptimizerImprovement]:
    """P(x > y) for every ordered pair of optimizers on the tasks both have a value on."""
    best = _best_per_task(ranked)
    result = []
    for x in sorted(best):
        for y in sorted(best):
            tasks = sorted(set(best[x]) & set(best[y]))
            if x == y or not tasks:
                continue
            p = probability_of_improvement(
                [best[x][t] for t in tasks],
                [best[y][t] for t in tasks],
                higher_is_better=goal == "maximize",
                confidence=confidence,
            )
            result.append(OptimizerImprovement(x, y, tasks, p.value, p.ci_low, p.ci_high))
    return result


def _profile(
    ranked: list[ConfigurationResult], times: list[ConfigurationTimes], tasks: list[str]
) -> PerformanceProfile:
    """The optimizers' performance profile over ``tasks``: an optimizer's time on a task is
    the fewest median steps to target among its configurations there (None: none of them
    reached it for most of its seeds)."""
    best: dict[str, dict[str, float]] = {}
    for config, timed in zip(ranked, times, strict=True):
        if timed.steps_median is not None:
            by_task = best.setdefault(config.optimizer, {})
            by_task[config.task] = min(by_task.get(config.task, math.inf), timed.steps_median)
    optimizers = sorted({config.optimizer for config in ranked})
    rows = {o: [best.get(o, {}).get(task) for task in tasks] for o in optimizers}
    return performance_profile_of(rows, tasks)


def build_report(
    members: Sequence[MemberResult],
    *,
    metric: str,
    goal: Goal,
    target: float | None = None,
    confidence: float = 0.95,
) -> SweepReport:
    """The report of a sweep's ``members`` on ``metric`` (``goal``: which direction is
    better; ``target``: the value whose first reaching is timed). ValueError for an
    unknown metric or goal, an experiment id given twice, or a configuration with a seed
    that counts twice."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    ids = [m.experiment_id for m in members]
    if len(ids) != len(set(ids)):
        raise ValueError("each member must be given once (an experiment id repeats)")
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    by_config: dict[str, list[MemberResult]] = {}
    for member in members:
        counts[member.status] = counts.get(member.status, 0) + 1
        by_config.setdefault(member.config_key, []).append(member)
    ranked = _ranked([_configuration(group, confidence) for group in by_config.values()], goal)
    curve_members = {
        key: [m for m in group if m.status in CURVE_STATUSES] for key, group in by_config.items()
    }
    higher = goal == "maximize"
    times = None
    if target is not None:
        times = [configuration_times(c.config_key, curve_members[c.config_key], target,
                                     higher_is_better=higher) for c in ranked]  # fmt: skip
    tasks = {m.task for m in members}
    profile = None
    if times is not None and len(tasks) >= 2:
        profile = _profile(ranked, times, sorted(tasks))
    top = ranked[0] if ranked and ranked[0].rank is not None else None
    return SweepReport(
        metric=metric,
        goal=goal,
        target=target,
        confidence=confidence,
        counts=counts,
        configurations=ranked,
        best=_best(top) if top else None,
        sensitivity=_sensitivity(ranked),
        curves=[_curve(c.config_key, curve_members[c.config_key]) for c in ranked],
        time_to_target=times,
        probability_of_improvement=_improvements(ranked, goal, confidence),
        performance_profile=profile,
    )
