"""The curves a figure draws: an experiment's metrics read from the store, each
downsampled so the cost of a figure does not grow with the run (``api/routes/plots.py``
and ``api/routes/compare.py`` draw them with ``core.plots``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.metrics import MetricSeries
from core.plots.smoothing import ema_series
from core.store.metrics import downsample, metric_names, read_curve

PLOT_MAX_POINTS = 2000
"""Points drawn per curve at most: longer curves are downsampled keeping each bucket's
first, last, minimum and maximum (``core.store.metrics.downsample``), so spikes stay
visible and the cost of a figure does not grow with the run."""


def plot_series(
    *, session: Session, experiment_id: str, names: Sequence[str] | None = None
) -> dict[str, MetricSeries]:
    """The experiment's curves by metric name (all, or ``names``), each downsampled to at
    most ``PLOT_MAX_POINTS``; metrics without points are left out."""
    if names is None:
        names = metric_names(session=session, experiment_id=experiment_id)
    found: dict[str, MetricSeries] = {}
    for name in names:
        curve = read_curve(session=session, experiment_id=experiment_id, name=name)
        if len(curve):
            found[name] = downsample(curve, max_points=PLOT_MAX_POINTS)
    return found


def smoothed_series(
    *, session: Session, experiment_id: str, names: Sequence[str], factor: float
) -> dict[str, MetricSeries]:
    """The EMA (``core.plots.smoothing.ema``, ``factor``) of each of ``names`` that has points,
    computed over every point and then downsampled like ``plot_series``: smoothing the
    downsampled curve instead would weigh each bucket's extremes as much as its mean."""
    found: dict[str, MetricSeries] = {}
    for name in names:
        curve = read_curve(session=session, experiment_id=experiment_id, name=name)
        if len(curve):
            found[name] = downsample(ema_series(curve, factor), max_points=PLOT_MAX_POINTS)
    return found
