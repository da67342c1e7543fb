"""Runs overlaid: one panel per metric, one line per run, on a shared x axis (iteration,
epoch or training examples seen)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.figure_style import X_LABELS, XAxis, optimizer_label, optimizer_line
from core.metrics import METRICS, MetricSeries
from core.plots.chart import Curve, Panel
from core.plots.smoothing import check_smoothing, ema_legend, smoothable, smoothed_curve

X_AXES: tuple[XAxis, ...] = ("iteration", "epoch", "examples")


@dataclass(frozen=True)
class Pace:
    """How a run's iterations map to epochs and examples: ``train_examples`` per epoch in
    batches of ``batch_size`` (the last one smaller where they do not divide)."""

    train_examples: int
    batch_size: int

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_examples / self.batch_size)

    def epoch_at(self, step: int) -> float:
        """Epochs done at the end of iteration ``step`` (1.5: half of the second)."""
        return step / self.steps_per_epoch

    def examples_at(self, step: int) -> int:
        """Training examples seen by the end of iteration ``step``."""
        epochs, within = divmod(step, self.steps_per_epoch)
        return epochs * self.train_examples + min(self.train_examples, within * self.batch_size)

    @classmethod
    def of_spec(cls, spec: Mapping[str, Any]) -> Pace:
        """The pace of a spec (as JSON)."""
        from core.spec import ExperimentSpec

        dataset = ExperimentSpec.model_validate(spec).dataset
        return cls(train_examples=dataset.train_examples(), batch_size=dataset.batch_size)


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its ``label`` (name and id start), its curves by metric
    name, and what its legend entry and x axis need."""

    label: str
    curves: Mapping[str, MetricSeries]
    optimizer: str | None = None
    lr: float | None = None
    pace: Pace | None = None
    smoothed: Mapping[str, MetricSeries] | None = None
    """EMA curves computed before downsampling (else computed from ``curves``)."""


def default_x_axis(runs: Sequence[ComparedRun]) -> XAxis | None:
    """``"epoch"`` when the runs' batch sizes differ (their iterations are not alike);
    None (each metric on its own axis: iteration or epoch) otherwise."""
    batch_sizes = {run.pace.batch_size for run in runs if run.pace is not None}
    return "epoch" if len(batch_sizes) > 1 else None


def _xs(curve: MetricSeries, metric: str, x: XAxis, pace: Pace | None) -> list[float]:
    if x == "iteration":
        return list(curve.steps)
    if x == "epoch":
        if METRICS[metric].per == "epoch" or pace is None:
            return list(curve.epochs)
        return [pace.epoch_at(step) for step in curve.steps]
    if pace is None:
        raise ValueError("x='examples' needs each run's pace (train examples, batch size)")
    return [pace.examples_at(step) for step in curve.steps]


def comparison_panels(
    runs: Sequence[ComparedRun | tuple[str, Mapping[str, MetricSeries]]],
    metrics: Sequence[str],
    *,
    x: XAxis | None = None,
    smoothing: float = 0.0,
) -> list[Panel]:
    """One panel per metric with one line per run, in the order given; a run without
    points of a metric has no line in its panel. Each run is drawn in its optimizer's line
    (the second run of an optimizer in its first variant, and so on) and its legend says
    ``label: optimizer, lr`` (and the batch size, where they differ); the same run has the
    same entry in every panel, so ``Chart(shared_legend=True)`` draws it once. The x axis is ``x``
    for every panel (``default_x_axis`` when None: the epoch where batch sizes differ,
    else per-iteration metrics by iteration and the others by epoch). With ``smoothing``,
    per-iteration measurements are drawn faint under their EMA, and their panel's title
    says so (``training objective per iteration (EMA 0.9)``). Raises ValueError for a
    metric not in ``METRICS``."""
    unknown = [metric for metric in metrics if metric not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    if x is not None and x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}, got {x!r}")
    check_smoothing(smoothing)
    compared = [run if isinstance(run, ComparedRun) else ComparedRun(*run) for run in runs]
    x = x if x is not None else default_x_axis(compared)
    batch_sizes = {run.pace.batch_size for run in compared if run.pace is not None}
    seen: dict[str | None, int] = {}
    lines, legends = [], []
    for run in compared:
        variant = seen.get(run.optimizer, 0)
        seen[run.optimizer] = variant + 1
        lines.append(optimizer_line(run.optimizer, variant))
        facts = [optimizer_label(run.optimizer)] if run.optimizer is not None else []
        facts += [f"lr {run.lr:g}"] if run.lr is not None else []
        if len(batch_sizes) > 1 and run.pace is not None:
            facts.append(f"batch {run.pace.batch_size}")
        legends.append(f"{run.label}: {', '.join(facts)}" if facts else run.label)
    panels = []
    for metric in metrics:
        info = METRICS[metric]
        axis: XAxis = x if x is not None else ("epoch" if info.per == "epoch" else "iteration")
        smooth = bool(smoothing) and smoothable(metric)
        curves = []
        for run, line, legend in zip(compared, lines, legends, strict=True):
            curve = run.curves.get(metric)
            if curve is None or not curve.steps:
                continue
            if info.per == "iteration":
                line = line.without_marker()
            xs = _xs(curve, metric, axis, run.pace)
            if smooth:
                curves.append(Curve(run.label, xs, list(curve.values), line.faint(), legend=""))
                mean = smoothed_curve(metric, curve, smoothing, run.smoothed)
                curves.append(
                    Curve(
                        ema_legend(run.label, smoothing),
                        _xs(mean, metric, axis, run.pace),
                        list(mean.values),
                        line,
                        legend=legend,
                    )
                )
            else:
                curves.append(Curve(run.label, xs, list(curve.values), line, legend=legend))
        title = ema_legend(info.label, smoothing) if smooth else info.label
        panels.append(Panel(title, X_LABELS[axis], metric, curves, info.log_y, legend=True))
    return panels
