"""Figures of learning curves, drawn from plain metric values (no torch).

Two inputs are accepted: points (``core.metrics.MetricPoint``, or mappings with its
field names as keys), or curves already split by metric (``core.metrics.MetricSeries``:
parallel lists, as the store reads them). Which panel a metric goes to, its label and
whether its axis is logarithmic come from the registry ``core.metrics.METRICS``. So the
API draws a stored run's ``plot.png`` with the same panels as
``adamlab train``. Figures are built on matplotlib's object API with the Agg canvas (no
pyplot global state, safe in threads); matplotlib is imported inside the functions so
importing this module stays cheap. PNG and SVG come from the same figure; in SVG every
line is a ``<g>`` whose ``id`` is ``curve:<panel title>:<label>``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.metrics import METRICS, PANELS, MetricPoint, MetricSeries, panel_metrics

ImageFormat = Literal["png", "svg"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("png", "svg")
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}


@dataclass(frozen=True)
class Curve:
    """One line: ``label`` and its (x, y) values; ``style`` is a matplotlib format string,
    ``color`` a matplotlib colour (None: the next of the cycle). A y of None (a value
    that was not finite) leaves a gap."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    style: str = "-"
    color: str | None = None


@dataclass(frozen=True)
class Panel:
    """One set of axes."""

    title: str
    xlabel: str
    ylabel: str
    curves: list[Curve] = field(default_factory=list)
    log_y: bool = False
    legend: bool | None = None
    """Draw a legend: None when the panel has more than one curve."""


PointLike = MetricPoint | Mapping[str, Any]
"""A metric point, or a mapping with the same keys (as JSON gives it)."""


def _field(point: PointLike, name: str) -> Any:
    return point[name] if isinstance(point, Mapping) else getattr(point, name)


def series(points: Iterable[PointLike], name: str, *, by: str = "step") -> tuple[list, list]:
    """(x, y) of metric ``name`` ordered by ``by`` (``"step"`` or ``"epoch"``)."""
    rows = sorted((_field(p, by), _field(p, "value")) for p in points if _field(p, "name") == name)
    return [x for x, _ in rows], [y for _, y in rows]


def series_by_name(points: Iterable[PointLike]) -> dict[str, MetricSeries]:
    """Points grouped into one ``MetricSeries`` per metric name, each ordered by step."""
    grouped: dict[str, list[tuple[int, int, float | None]]] = {}
    for point in points:
        grouped.setdefault(_field(point, "name"), []).append(
            (_field(point, "step"), _field(point, "epoch"), _field(point, "value"))
        )
    result = {}
    for name, rows in grouped.items():
        rows.sort(key=lambda row: row[0])
        result[name] = MetricSeries(
            steps=[row[0] for row in rows],
            epochs=[row[1] for row in rows],
            values=[row[2] for row in rows],
        )
    return result


def learning_curve_panels(
    points: Sequence[PointLike] | Mapping[str, MetricSeries],
) -> list[Panel]:
    """The panels of one run (``core.metrics.PANELS``, in order): batch loss and learning
    rate per iteration; losses, accuracies (or, for regression, the MSE and w, b) per
    epoch; each metric in the panel its registry entry names. Metrics a run did not log
    are left out, and so are panels left empty. ``points`` are metric points, or curves by
    metric name."""
    by_name = points if isinstance(points, Mapping) else series_by_name(points)
    panels = []
    for panel_name, info in PANELS.items():
        by = "step" if info.xlabel == "iteration" else "epoch"
        curves = [
            Curve(METRICS[metric].curve_label, list(by_name[metric].xs(by)),
                  list(by_name[metric].values))
            for metric in panel_metrics(panel_name)
            if metric in by_name
        ]  # fmt: skip
        if curves:
            panels.append(Panel(info.title, info.xlabel, info.ylabel, curves, log_y=info.log_y))
    return panels


def comparison_panels(
    runs: Sequence[tuple[str, Mapping[str, MetricSeries]]], metrics: Sequence[str]
) -> list[Panel]:
    """One panel per metric with one line per run (``(label, curves by name)``), in the
    order given; a run without points of a metric has no line in its panel. Raises
    ValueError for a metric not in ``METRICS``."""
    unknown = [metric for metric in metrics if metric not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    panels = []
    for metric in metrics:
        info = METRICS[metric]
        by = "epoch" if info.per == "epoch" else "step"
        curves = [
            Curve(
                label,
                list(by_name[metric].xs(by)),
                list(by_name[metric].values),
                style="-o" if info.per == "epoch" else "-",
                color=f"C{index % 10}",
            )
            for index, (label, by_name) in enumerate(runs)
            if metric in by_name and by_name[metric].steps
        ]
        panels.append(Panel(info.label, info.per, metric, curves, info.log_y, legend=True))
    return panels


def spec_title(spec: Mapping[str, Any]) -> str:
    """A figure's title from a spec (as JSON): name, dataset, model, optimizer, lr, epochs,
    e.g. ``digits-adam: digits, logistic_regression, adam (lr 0.001), 5 epochs``."""
    model = spec["model"]["name"]
    dropout = spec["model"].get("dropout") or 0.0
    if dropout:
        model += f" (dropout {dropout:g})"
    optimizer = spec["optimizer"]
    schedule = (spec.get("schedule") or {}).get("name", "constant")
    lr = f"lr {optimizer['lr']:g}" + ("" if schedule == "constant" else f", {schedule}")
    epochs = spec["epochs"]
    return (
        f"{spec['name']}: {spec['dataset']['name']}, {model}, {optimizer['name']} ({lr}), "
        f"{epochs} epoch{'s' if epochs != 1 else ''}"
    )


def _finite_floats(values: Sequence[float | None]) -> list[float]:
    """Values as floats, NaN where one is missing or not finite (a gap in the line)."""
    return [v if v is not None and math.isfinite(v) else math.nan for v in values]


def render_panels(
    panels: Sequence[Panel],
    *,
    title: str = "",
    columns: int = 2,
    image_format: ImageFormat = "png",
    allow_empty: bool = False,
) -> bytes:
    """Draw ``panels`` on a grid and return the image's bytes (PNG or SVG). A panel
    without curves says "no points"; with ``allow_empty`` False, a figure without any
    curve is a ValueError."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    if not panels or not (allow_empty or any(panel.curves for panel in panels)):
        raise ValueError("nothing to plot: no panel has a curve")
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    figure = Figure(
        figsize=(5.0 * columns, 3.6 * rows + (0.4 if title else 0)), layout="constrained"
    )
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for curve in panel.curves:
            axes.plot(
                curve.xs,
                _finite_floats(curve.ys),
                curve.style,
                label=curve.label,
                color=curve.color,
                markersize=3,
                gid=f"curve:{panel.title}:{curve.label}",
            )
        drawn = [y for c in panel.curves for y in c.ys if y is not None and math.isfinite(y)]
        if panel.log_y and drawn and all(y > 0 for y in drawn):
            axes.set_yscale("log")
        if panel.xlabel in ("epoch", "iteration"):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(panel.title)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel(panel.ylabel)
        axes.grid(True, alpha=0.3)
        legend = panel.legend if panel.legend is not None else len(panel.curves) > 1
        if legend and panel.curves:
            axes.legend(fontsize="small")
        elif not panel.curves:
            axes.text(0.5, 0.5, "no points", ha="center", va="center", transform=axes.transAxes)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format, dpi=100)
    return buffer.getvalue()


def learning_curves_png(points: Sequence[PointLike], *, title: str = "") -> bytes:
    """PNG of one run's learning curves (see ``learning_curve_panels``)."""
    return render_panels(learning_curve_panels(points), title=title)


def write_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
