"""Statistics for a few runs per configuration, as rliable (Agarwal et al., "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021) and AlgoPerf
(Dahl et al., "Benchmarking Neural Network Training Algorithms", 2023) report them. Pure
functions over numbers (numpy and scipy only); every random draw comes from a fixed seed, so
the same inputs always give the same report.

- ``iqm`` and ``estimate``: the interquartile mean of a configuration's seeds and a
  bootstrap confidence interval of it (rather than a mean ± std of three seeds);
- ``probability_of_improvement``: P(X > Y) of one method over another across tasks, with a
  stratified bootstrap interval;
- ``first_reach``, ``performance_ratios`` and ``performance_profile``: time to a target and
  the fraction of tasks on which a method is within a factor τ of the fastest;
- ``quartiles`` and ``quantile_band``: a median and its interquartile band, of values or of
  curves position by position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000


def _values(values: Sequence[float], name: str = "values") -> np.ndarray:
    """``values`` as a 1-d float array; ValueError where it is empty or not finite."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty sequence of numbers")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers, got {list(values)}")
    return array


def _check_bootstrap(confidence: float, resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")


def _iqm_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(x, 0.25, axis=axis)


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: with x₍₁₎ ≤ … ≤ x₍ₙ₎ sorted and k = ⌊n/4⌋, the mean of
    x₍ₖ₊₁₎ … x₍ₙ₋ₖ₎ (the lowest k and highest k values left out; ``scipy.stats.trim_mean(x,
    0.25)``). Robust to an outlying seed, yet less noisy than the median; below four values
    it is the mean. ValueError for no values or a value that is not finite."""
    return float(_iqm_along(_values(values)))


@dataclass(frozen=True, slots=True)
class Estimate:
    """A configuration's seeds summed up: ``n`` values, their median, IQM and mean, and the
    bootstrap confidence interval [``ci_low``, ``ci_high``] of the IQM (None below two
    values, where resampling says nothing)."""

    n: int
    median: float
    iqm: float
    mean: float
    ci_low: float | None
    ci_high: float | None


def estimate(
    values: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Median, IQM, mean and the percentile-bootstrap interval of the IQM.

    The interval: draw ``resamples`` samples of n values with replacement from the n
    values, take each one's IQM, and report the α/2 and 1 − α/2 quantiles of those IQMs,
    α = 1 − ``confidence`` (``scipy.stats.bootstrap``, percentile method, its generator
    seeded with ``seed``). Identical values make every resample identical: the interval
    is then [v, v], without asking scipy. ValueError for no values or a non-finite one."""
    _check_bootstrap(confidence, resamples)
    x = _values(values)
    low: float | None = None
    high: float | None = None
    if x.size >= 2 and np.ptp(x) == 0:
        low = high = float(x[0])
    elif x.size >= 2:
        result = stats.bootstrap(
            (x,),
            _iqm_along,
            n_resamples=resamples,
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Estimate(
        n=int(x.size),
        median=float(np.median(x)),
        iqm=float(_iqm_along(x)),
        mean=float(np.mean(x)),
        ci_low=low,
        ci_high=high,
    )


@dataclass(frozen=True, slots=True)
class Improvement:
    """P(X > Y) over ``tasks`` tasks and its stratified-bootstrap interval (None where no
    task has two values on either side, so every resample is the sample itself)."""

    value: float
    ci_low: float | None
    ci_high: float | None
    tasks: int


def _mann_whitney(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) + ½ P(x = y) over all pairs of the last axes of ``x`` (…, n) and ``y``
    (…, m): the Mann-Whitney U statistic divided by n·m."""
    left, right = x[..., :, None], y[..., None, :]
    return (left > right).mean(axis=(-2, -1)) + 0.5 * (left == right).mean(axis=(-2, -1))


def probability_of_improvement(
    x_by_task: Sequence[Sequence[float]],
    y_by_task: Sequence[Sequence[float]],
    *,
    higher_is_better: bool = True,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Improvement:
    """The probability that method X beats method Y on a task picked at random (rliable's
    ``probability_of_improvement``)::

        P(X > Y) = 1/T Σₜ 1/(nₜ mₜ) Σᵢ Σⱼ ( [xₜᵢ > yₜⱼ] + ½ [xₜᵢ = yₜⱼ] )

    over the T tasks, X's seeds xₜ₁ … xₜₙ and Y's seeds yₜ₁ … yₜₘ of task t (for
    ``higher_is_better`` False, "beats" is "is lower": ``[xₜᵢ < yₜⱼ]``). 0.5 is a tie;
    P(X > Y) + P(Y > X) = 1.

    The interval is a stratified percentile bootstrap: each resample draws, task by task,
    nₜ of X's values and mₜ of Y's with replacement (seeds move only within their task),
    and the α/2 and 1 − α/2 quantiles of the resampled statistic are reported, α = 1 −
    ``confidence``; the generator is seeded with ``seed``. The tasks of ``x_by_task`` and
    ``y_by_task`` are paired by position. ValueError for no tasks, tasks that do not pair,
    or a task without values."""
    _check_bootstrap(confidence, resamples)
    if not x_by_task or len(x_by_task) != len(y_by_task):
        raise ValueError(
            f"x_by_task and y_by_task must list the same tasks (at least one), got "
            f"{len(x_by_task)} and {len(y_by_task)}"
        )
    sign = 1.0 if higher_is_better else -1.0
    xs = [sign * _values(x, "x_by_task's values") for x in x_by_task]
    ys = [sign * _values(y, "y_by_task's values") for y in y_by_task]
    value = float(np.mean([_mann_whitney(x, y) for x, y in zip(xs, ys, strict=True)]))
    if all(x.size < 2 and y.size < 2 for x, y in zip(xs, ys, strict=True)):
        return Improvement(value, None, None, len(xs))
    rng = np.random.default_rng(seed)
    resampled = np.zeros(resamples)
    for x, y in zip(xs, ys, strict=True):
        x_draws = x[rng.integers(0, x.size, size=(resamples, x.size))]
        y_draws = y[rng.integers(0, y.size, size=(resamples, y.size))]
        resampled += _mann_whitney(x_draws, y_draws)
    resampled /= len(xs)
    alpha = 1.0 - confidence
    low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
    return Improvement(value, float(low), float(high), len(xs))


def first_reach(
    values: Sequence[float | None], target: float, *, higher_is_better: bool
) -> int | None:
    """The index of the first value that reaches ``target`` (value ≥ target where higher is
    better, value ≤ target otherwise); None values (not finite) never reach; None when no
    value does."""
    for index, value in enumerate(values):
        if value is None or not math.isfinite(value):
            continue
        if (value >= target) if higher_is_better else (value <= target):
            return index
    return None


def performance_ratios(times: Mapping[str, Sequence[float | None]]) -> dict[str, list[float]]:
    """Each method's time on each task over the best time on that task::

        r_{m,t} = time_{m,t} / min_{m'} time_{m',t}

    (1 for the fastest method), ∞ where m never reached the target (time None), and ∞ for
    every method on a task that none reached. ``times`` lists one time per task for each
    method, the tasks in the same order. ValueError where the methods list different
    numbers of tasks or a time is not a positive finite number."""
    counts = {len(row) for row in times.values()}
    if len(counts) > 1:
        raise ValueError(f"every method must list the same tasks, got lengths {sorted(counts)}")
    for method, row in times.items():
        bad = [t for t in row if t is not None and not (math.isfinite(t) and t > 0)]
        if bad:
            raise ValueError(f"times must be positive finite numbers or None, {method}: {bad}")
    tasks = counts.pop() if counts else 0
    best: list[float | None] = []
    for task in range(tasks):
        reached = [row[task] for row in times.values()]
        best.append(min((time for time in reached if time is not None), default=None))
    ratios: dict[str, list[float]] = {}
    for method, row in times.items():
        ratios[method] = [
            math.inf if time is None or low is None else time / low
            for time, low in zip(row, best, strict=True)
        ]
    return ratios


def performance_profile(
    times: Mapping[str, Sequence[float | None]], taus: Sequence[float]
) -> dict[str, list[float]]:
    """AlgoPerf's performance profile: for each method m and each τ of ``taus``::

        ρ_m(τ) = |{t : r_{m,t} ≤ τ}| / T

    the fraction of the T tasks on which m reached the target within τ times the fastest
    method's time (``performance_ratios``; never reaching is ∞, above every τ). ρ_m(1) is
    the fraction of tasks m is fastest on; ρ is a non-decreasing step function of τ."""
    ratios = performance_ratios(times)
    return {
        method: [sum(r <= tau for r in row) / len(row) if row else 0.0 for tau in taus]
        for method, row in ratios.items()
    }


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q25, median, q75) of ``values``, each quantile interpolated linearly between the
    order statistics (numpy's default): qₚ = x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋₊₁₎ − x₍⌊h⌋₎),
    h = p (n − 1), 0-based."""
    q25, median, q75 = np.percentile(_values(values), [25.0, 50.0, 75.0])
    return float(q25), float(median), float(q75)


Band = tuple[list[float | None], list[float | None], list[float | None]]


def quantile_band(curves: Sequence[Sequence[float | None]]) -> Band:
    """(q25, median, q75) at each position i of ``curves`` (``quartiles`` of the values
    at index i), as long as the longest curve: where shorter curves have ended (a member
    stopped early) the position uses those that go on, and None values (not finite) are
    left out; a position with no value at all is None in all three."""
    length = max((len(curve) for curve in curves), default=0)
    band: Band = ([], [], [])
    for position in range(length):
        column = [
            value
            for curve in curves
            if position < len(curve)
            and (value := curve[position]) is not None
            and math.isfinite(value)
        ]
        q = quartiles(column) if column else (None, None, None)
        for part, value in zip(band, q, strict=True):
            part.append(value)
    return band
