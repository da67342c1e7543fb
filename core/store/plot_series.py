"""The curves a figure draws: an experiment's metrics read from the store, each
downsampled so the cost of a figure does not grow with the run (``api/routes/plots.py``
and ``api/routes/compare.py`` draw them with ``core.plots``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.metrics import MetricSeries
from core.plots.smoothing import ema_series, smoothable
from core.store.metrics import downsample, metric_names, read_curve

PLOT_MAX_POINTS = 2000
"""Points drawn per curve at most: longer curves are downsampled keeping each bucket's
first, last, minimum and maximum (``core.store.metrics.downsample``), so spikes stay
visible and the cost of a figure does not grow with the run."""


@dataclass(frozen=True, slots=True)
class PlotSeries:
    """The curves of a figure, and with smoothing the EMA of its smoothable ones."""

    curves: dict[str, MetricSeries]
    smoothed: dict[str, MetricSeries] | None
    """None without smoothing."""


def plot_series(
    *,
    session: Session,
    experiment_id: str,
    names: Sequence[str] | None = None,
    smoothing: float = 0.0,
) -> PlotSeries:
    """The experiment's curves by metric name (all, or ``names``), each downsampled to at
    most ``PLOT_MAX_POINTS``; metrics without points are left out. With ``smoothing``, the
    EMA (``core.plots.smoothing.ema``, factor ``smoothing``) of each smoothable curve too,
    computed over every point and then downsampled the same way: smoothing the downsampled
    curve instead would weigh each bucket's extremes as much as its mean. Each curve is
    read from the store once."""
    if names is None:
        names = metric_names(session=session, experiment_id=experiment_id)
    curves: dict[str, MetricSeries] = {}
    smoothed: dict[str, MetricSeries] | None = {} if smoothing else None
    for name in names:
        curve = read_curve(session=session, experiment_id=experiment_id, name=name)
        if not len(curve):
            continue
        curves[name] = downsample(curve, max_points=PLOT_MAX_POINTS)
        if smoothed is not None and smoothable(name):
            smoothed[name] = downsample(ema_series(curve, smoothing), max_points=PLOT_MAX_POINTS)
    return PlotSeries(curves=curves, smoothed=smoothed)
