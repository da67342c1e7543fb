"""Smoothing a curve: the bias-corrected exponential moving average of its values, and which
metrics it applies to."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from core.metrics import METRICS, MetricSeries


def check_smoothing(factor: float) -> float:
    """``factor`` when it is a valid EMA factor (0 <= factor < 1; 0 is no smoothing)."""
    if not (0.0 <= factor < 1.0):
        raise ValueError(f"smoothing must be at least 0 and below 1, got {factor!r}")
    return factor


def ema(values: Sequence[float | None], factor: float) -> list[float | None]:
    """The exponential moving average of ``values`` with ``factor`` (the weight of the
    past: 0 gives the values back, 0.99 averages over about 100 points), bias-corrected so
    the first values are not pulled towards 0. A missing or non-finite value stays a gap
    and does not enter the average."""
    check_smoothing(factor)
    average = weight = 0.0
    smoothed: list[float | None] = []
    for value in values:
        if value is None or not math.isfinite(value):
            smoothed.append(None)
            continue
        average = factor * average + (1.0 - factor) * value
        weight = factor * weight + (1.0 - factor)
        smoothed.append(average / weight)
    return smoothed


def ema_series(curve: MetricSeries, factor: float) -> MetricSeries:
    """``curve`` with its values smoothed (``ema``)."""
    return MetricSeries(steps=curve.steps, epochs=curve.epochs, values=ema(curve.values, factor))


def smoothable(metric: str) -> bool:
    """Whether smoothing applies to ``metric``: a per-iteration measurement (the batch
    loss), not the learning rate, which is a setting."""
    info = METRICS.get(metric)
    return info is not None and info.per == "iteration" and metric != "lr"


def ema_legend(text: str, factor: float) -> str:
    """``"batch loss"`` → ``"batch loss (EMA 0.9)"``."""
    return f"{text} (EMA {factor:g})"


def smoothed_curve(
    metric: str,
    curve: MetricSeries,
    factor: float,
    smoothed: Mapping[str, MetricSeries] | None,
) -> MetricSeries:
    """The smoothed curve of ``metric``: given (computed before downsampling) or computed
    from ``curve``."""
    if smoothed is not None and metric in smoothed:
        return smoothed[metric]
    return ema_series(curve, factor)
