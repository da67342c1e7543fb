"""One run's figure: its panels (``core.metrics.PANELS``), in its optimizer's line, titled
with its spec and how far it got."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from core.figure_style import optimizer_line
from core.metrics import METRICS, PANELS, MetricSeries, panel_metrics
from core.plots.chart import Chart, Curve, Panel, PointLike, curves_by_name
from core.plots.drawing import render
from core.plots.smoothing import check_smoothing, ema_legend, smoothable, smoothed_curve


def learning_curve_panels(
    points: Sequence[PointLike] | Mapping[str, MetricSeries],
    *,
    optimizer: str | None = None,
    smoothing: float = 0.0,
    smoothed: Mapping[str, MetricSeries] | None = None,
) -> list[Panel]:
    """The panels of one run (``core.metrics.PANELS``, in order): batch loss and learning
    rate per iteration; losses, accuracies (or, for regression, the MSE and w, b) per
    epoch; each metric in the panel its registry entry names, in ``optimizer``'s line
    (its variants for the second and third curve of a panel). Metrics a run did not log
    are left out, and so are panels left empty. ``points`` are metric points, or curves by
    metric name. With ``smoothing`` (an EMA factor), a per-iteration measurement is drawn
    faint with its EMA over it (from ``smoothed`` where given, e.g. computed by the store
    before downsampling)."""
    check_smoothing(smoothing)
    by_name = curves_by_name(points)
    panels = []
    for panel_name, info in PANELS.items():
        by = "step" if info.xlabel == "iteration" else "epoch"
        metrics = [metric for metric in panel_metrics(panel_name) if metric in by_name]
        curves = []
        for variant, metric in enumerate(metrics):
            curve, label = by_name[metric], METRICS[metric].curve_label
            line = optimizer_line(optimizer, variant)
            if by == "step":
                line = line.without_marker()
            if smoothing and smoothable(metric):
                curves.append(Curve(label, list(curve.xs(by)), list(curve.values), line.faint()))
                mean = smoothed_curve(metric, curve, smoothing, smoothed)
                label = ema_legend(label, smoothing)
                curves.append(Curve(label, list(mean.xs(by)), list(mean.values), line))
            else:
                curves.append(Curve(label, list(curve.xs(by)), list(curve.values), line))
        if curves:
            panels.append(Panel(info.title, info.xlabel, info.ylabel, curves, log_y=info.log_y))
    return panels


def constant_value(curve: MetricSeries) -> float | None:
    """The value of a curve whose finite values are all equal (None otherwise)."""
    finite = {value for value in curve.values if value is not None and math.isfinite(value)}
    return finite.pop() if len(finite) == 1 else None


def epochs_reached(by_name: Mapping[str, MetricSeries]) -> tuple[int, int]:
    """(the last epoch with any point, the last epoch completed: with per-epoch points)."""
    reached = completed = 0
    for metric, curve in by_name.items():
        last = max(curve.epochs, default=0)
        reached = max(reached, last)
        if metric in METRICS and METRICS[metric].per == "epoch":
            completed = max(completed, last)
    return reached, completed


def progress_phrase(status: str | None, epochs: int, *, reached: int, completed: int) -> str:
    """How far a run got, for a title: ``"12 epochs"`` (succeeded, queued or not known),
    ``"cancelled in epoch 5 of 12"`` (it stopped inside epoch 5), ``"failed after epoch 4
    of 12"`` (at an epoch's end), ``"running, in epoch 5 of 12"``."""
    if status not in ("running", "cancelled", "failed"):
        return f"{epochs} epoch{'s' if epochs != 1 else ''}"
    lead = "running," if status == "running" else status
    if reached > completed:
        return f"{lead} in epoch {max(reached, 1)} of {epochs}"
    return f"{lead} after epoch {completed} of {epochs}"


def spec_title(spec: Mapping[str, Any], progress: str | None = None) -> str:
    """A figure's title from a spec (as JSON): name, dataset, model, optimizer, lr, epochs,
    e.g. ``digits-adam: digits, logistic_regression, adam (lr 0.001), 5 epochs``;
    ``progress`` (``progress_phrase``) in place of the epochs."""
    model = spec["model"]["name"]
    dropout = spec["model"].get("dropout") or 0.0
    if dropout:
        model += f" (dropout {dropout:g})"
    optimizer = spec["optimizer"]
    schedule = (spec.get("schedule") or {}).get("name", "constant")
    lr = f"lr {optimizer['lr']:g}" + ("" if schedule == "constant" else f", {schedule}")
    epochs = spec["epochs"]
    if progress is None:
        progress = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    dataset = spec["dataset"]["name"]
    return f"{spec['name']}: {dataset}, {model}, {optimizer['name']} ({lr}), {progress}"


def run_chart(
    points: Sequence[PointLike] | Mapping[str, MetricSeries],
    *,
    spec: Mapping[str, Any] | None = None,
    status: str | None = None,
    title: str = "",
    smoothing: float = 0.0,
    smoothed: Mapping[str, MetricSeries] | None = None,
) -> Chart:
    """One run's figure: ``learning_curve_panels`` in the spec's optimizer's line, titled
    ``spec_title`` with how far the run got for ``status`` (or ``title`` without a spec).
    A learning rate that never changed is a note under the title, not a flat panel."""
    by_name = curves_by_name(points)
    optimizer = spec["optimizer"]["name"] if spec is not None else None
    notes = []
    lr = by_name.get("lr")
    if lr is not None and (value := constant_value(lr)) is not None:
        notes.append(f"learning rate {value:g} throughout (constant)")
        by_name = {name: curve for name, curve in by_name.items() if name != "lr"}
    panels = learning_curve_panels(
        by_name, optimizer=optimizer, smoothing=smoothing, smoothed=smoothed
    )
    if spec is not None:
        reached, completed = epochs_reached(by_name)
        progress = progress_phrase(status, spec["epochs"], reached=reached, completed=completed)
        title = spec_title(spec, progress)
    return Chart(panels, title=title, notes=notes)


def learning_curves_png(
    points: Sequence[PointLike],
    *,
    title: str = "",
    spec: Mapping[str, Any] | None = None,
    status: str | None = None,
) -> bytes:
    """PNG of one run's learning curves (``run_chart``)."""
    return render(run_chart(points, spec=spec, status=status, title=title))
