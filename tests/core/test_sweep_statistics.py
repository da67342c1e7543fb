"""core/sweeps/statistics.py: each number against an independent computation (numpy by hand,
brute force over pairs, a hand-worked profile)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from core.sweeps.statistics import (
    estimate,
    first_reach,
    iqm,
    performance_profile,
    performance_ratios,
    probability_of_improvement,
    quantile_band,
    quartiles,
)


def test_iqm_of_one_to_eight_is_the_mean_of_the_middle_half() -> None:
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx((3 + 4 + 5 + 6) / 4)


def test_iqm_ignores_an_outlying_seed() -> None:
    values = [0.90, 0.91, 0.92, 0.93, 0.10]
    # n = 5, k = 1: drop 0.10 and 0.93
    assert iqm(values) == pytest.approx(np.mean([0.90, 0.91, 0.92]))
    assert iqm(values) > np.mean(values) + 0.1


def test_iqm_below_four_values_is_the_mean() -> None:
    assert iqm([1.0, 2.0, 6.0]) == pytest.approx(3.0)


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [math.inf]])
def test_iqm_refuses_no_values_or_non_finite_ones(values: list[float]) -> None:
    with pytest.raises(ValueError):
        iqm(values)


def test_estimate_gives_median_iqm_mean_and_a_ci_that_contains_the_iqm() -> None:
    values = [0.81, 0.84, 0.85, 0.86, 0.88, 0.90, 0.97, 0.70]
    result = estimate(values)
    assert result.n == 8
    assert result.median == pytest.approx(np.median(values))
    assert result.mean == pytest.approx(np.mean(values))
    assert result.iqm == pytest.approx(np.mean(sorted(values)[2:6]))
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low < result.iqm < result.ci_high
    assert min(values) <= result.ci_low and result.ci_high <= max(values)


def test_estimate_ci_is_a_percentile_bootstrap_of_the_iqm() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=12).tolist()
    result = estimate(values, resamples=20000, seed=1)
    # the same interval by hand, from another generator: they agree to Monte Carlo error
    # (about 0.02 here, on an interval about 1.5 wide)
    draws = np.array(values)[np.random.default_rng(99).integers(0, 12, size=(20000, 12))]
    trimmed = np.sort(draws, axis=1)[:, 3:9].mean(axis=1)
    low, high = np.quantile(trimmed, [0.025, 0.975])
    assert result.ci_low == pytest.approx(low, abs=0.05)
    assert result.ci_high == pytest.approx(high, abs=0.05)


def test_estimate_ci_narrows_with_more_seeds() -> None:
    rng = np.random.default_rng(0)
    population = rng.normal(0.9, 0.02, size=200).tolist()

    def width(n: int) -> float:
        result = estimate(population[:n])
        assert result.ci_low is not None and result.ci_high is not None
        return result.ci_high - result.ci_low

    assert width(5) > width(20) > width(200)


def test_estimate_is_reproducible_and_seeded() -> None:
    values = [0.1, 0.5, 0.2, 0.9, 0.4, 0.3]
    assert estimate(values) == estimate(values)
    assert estimate(values, seed=1) != estimate(values, seed=2)


def test_estimate_of_constant_values_is_a_point_interval_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = estimate([0.5, 0.5, 0.5])
    assert (result.ci_low, result.ci_high) == (0.5, 0.5)
    assert (result.median, result.iqm, result.mean) == (0.5, 0.5, 0.5)


def test_estimate_of_one_value_has_no_interval() -> None:
    result = estimate([0.7])
    assert (result.n, result.iqm, result.ci_low, result.ci_high) == (1, 0.7, None, None)


def test_estimate_refuses_a_confidence_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="confidence"):
        estimate([1.0, 2.0], confidence=95)


def _brute_force_improvement(x_by_task, y_by_task, higher_is_better: bool) -> float:
    per_task = []
    for xs, ys in zip(x_by_task, y_by_task, strict=True):
        score = 0.0
        for x, y in itertools.product(xs, ys):
            better = x > y if higher_is_better else x < y
            score += 1.0 if better else 0.5 if x == y else 0.0
        per_task.append(score / (len(xs) * len(ys)))
    return sum(per_task) / len(per_task)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_probability_of_improvement_is_the_mann_whitney_mean_over_tasks(
    higher_is_better: bool,
) -> None:
    x = [[0.9, 0.8, 0.85], [0.5, 0.5, 0.7, 0.6]]
    y = [[0.8, 0.7], [0.5, 0.65, 0.9]]
    result = probability_of_improvement(x, y, higher_is_better=higher_is_better)
    assert result.value == pytest.approx(_brute_force_improvement(x, y, higher_is_better))
    assert result.tasks == 2
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= result.value <= result.ci_high


def test_probability_of_improvement_of_y_over_x_is_the_complement() -> None:
    x = [[0.9, 0.8, 0.85, 0.8]]
    y = [[0.8, 0.7, 0.95]]
    forward = probability_of_improvement(x, y).value
    backward = probability_of_improvement(y, x).value
    assert forward + backward == pytest.approx(1.0)
    assert forward == pytest.approx(_brute_force_improvement(x, y, True))


def test_probability_of_improvement_of_identical_methods_is_one_half() -> None:
    values = [[0.3, 0.3, 0.3]]
    result = probability_of_improvement(values, values)
    assert (result.value, result.ci_low, result.ci_high) == (0.5, 0.5, 0.5)


def test_probability_of_improvement_separated_methods_is_certain() -> None:
    result = probability_of_improvement([[0.9, 0.95, 0.92]], [[0.1, 0.2, 0.15]])
    assert (result.value, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)


def test_probability_of_improvement_resamples_within_tasks() -> None:
    # Task 1: X always wins, task 2: X always loses. A resample that mixed seeds across
    # tasks could move away from 0.5; a stratified one cannot.
    x = [[0.9, 0.91, 0.92], [0.1, 0.11, 0.12]]
    y = [[0.5, 0.51], [0.5, 0.51]]
    result = probability_of_improvement(x, y)
    assert (result.value, result.ci_low, result.ci_high) == (0.5, 0.5, 0.5)


def test_probability_of_improvement_of_single_seeds_has_no_interval() -> None:
    result = probability_of_improvement([[0.9], [0.2]], [[0.5], [0.5]])
    assert (result.value, result.ci_low, result.ci_high, result.tasks) == (0.5, None, None, 2)


def test_probability_of_improvement_refuses_unpaired_tasks() -> None:
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement([[1.0]], [[1.0], [2.0]])


def test_first_reach_for_both_goals() -> None:
    accuracy = [0.5, 0.7, None, 0.92, 0.95]
    assert first_reach(accuracy, 0.9, higher_is_better=True) == 3
    assert first_reach(accuracy, 0.7, higher_is_better=True) == 1
    assert first_reach(accuracy, 0.99, higher_is_better=True) is None
    loss = [2.0, 1.0, math.nan, 0.4, 0.3]
    assert first_reach(loss, 0.5, higher_is_better=False) == 3
    assert first_reach(loss, 2.0, higher_is_better=False) == 0
    assert first_reach(loss, 0.1, higher_is_better=False) is None


def test_performance_profile_on_a_hand_example() -> None:
    # task 1: a 100, b 200; task 2: a 300, b 150; task 3: a never, b 50; task 4: neither.
    times = {"a": [100.0, 300.0, None, None], "b": [200.0, 150.0, 50.0, None]}
    assert performance_ratios(times) == {
        "a": [1.0, 2.0, math.inf, math.inf],
        "b": [2.0, 1.0, 1.0, math.inf],
    }
    profile = performance_profile(times, [1.0, 1.5, 2.0, 4.0])
    assert profile == {"a": [0.25, 0.25, 0.5, 0.5], "b": [0.5, 0.5, 0.75, 0.75]}


def test_performance_profile_refuses_ragged_tasks_and_non_positive_times() -> None:
    with pytest.raises(ValueError, match="same tasks"):
        performance_profile({"a": [1.0], "b": [1.0, 2.0]}, [1.0])
    with pytest.raises(ValueError, match="positive"):
        performance_profile({"a": [0.0], "b": [1.0]}, [1.0])


def test_quartiles_match_numpy_percentiles() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]
    assert quartiles(values) == pytest.approx(tuple(np.percentile(values, [25, 50, 75])))


def test_quantile_band_over_curves_of_different_lengths() -> None:
    curves = [[1.0, 2.0, 3.0], [3.0, None, 5.0, 6.0], [2.0, 4.0], [], [None]]
    q25, median, q75 = quantile_band(curves)
    assert median == [2.0, 3.0, 4.0, 6.0]
    assert q25 == [1.5, 2.5, 3.5, 6.0]
    assert q75 == [2.5, 3.5, 4.5, 6.0]
    assert quantile_band([[None, 1.0]]) == ([None, 1.0], [None, 1.0], [None, 1.0])
    assert quantile_band([]) == ([], [], [])
