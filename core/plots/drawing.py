"""Drawing a ``Chart``: the matplotlib figure (panels on a grid, axes formatted by
``core.figure_style``, legends, title and notes) and its PNG or SVG bytes. matplotlib is
imported inside the functions, so importing this module stays cheap."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.figure_style import X_LABELS, XAxis, style_axes
from core.plots.chart import Chart, Curve, Panel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageFormat = Literal["png", "svg"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("png", "svg")
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
NO_POINTS = "no points yet"
"""What a panel without any line says."""


def _finite_floats(values: Sequence[float | None]) -> list[float]:
    """Values as floats, NaN where one is missing or not finite (a gap in the line)."""
    return [v if v is not None and math.isfinite(v) else math.nan for v in values]


def _x_axis_of(xlabel: str) -> XAxis | None:
    return next((axis for axis, label in X_LABELS.items() if label == xlabel), None)


def _legend_text(curve: Curve) -> str:
    text = curve.label if curve.legend is None else curve.legend
    return text or f"_{curve.label}"  # matplotlib leaves labels starting with _ out


def draw(chart: Chart, *, allow_empty: bool = False) -> Figure:
    """The matplotlib figure of ``chart``. A panel without curves says "no points yet";
    with ``allow_empty`` False, a chart without any curve is a ValueError."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = chart.panels
    if not panels or not (allow_empty or any(panel.curves for panel in panels)):
        raise ValueError("nothing to plot: no panel has a curve")
    columns = max(1, min(chart.columns, len(panels)))
    rows = -(-len(panels) // columns)
    heading = "\n".join(line for line in (chart.title, "; ".join(chart.notes)) if line)
    figure = Figure(
        figsize=(5.0 * columns, 3.6 * rows + 0.3 * (heading.count("\n") + bool(heading))),
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.set_title(panel.title)
        if not panel.curves:
            axes.set_xticks([])
            axes.set_yticks([])
            axes.text(0.5, 0.5, NO_POINTS, ha="center", va="center", transform=axes.transAxes,
                      color="#666666")  # fmt: skip
            continue
        for curve in panel.curves:
            marker = curve.line.marker
            axes.plot(
                curve.xs,
                _finite_floats(curve.ys),
                color=curve.line.color,
                linestyle=curve.line.dashes,
                linewidth=curve.line.width,
                alpha=curve.line.alpha,
                marker=marker or None,
                markersize=4,
                markevery=max(1, len(curve.xs) // 20) if marker else None,
                label=_legend_text(curve),
                gid=f"curve:{panel.title}:{curve.label}",
            )
        drawn = [y for c in panel.curves for y in c.ys if y is not None and math.isfinite(y)]
        log_y = panel.log_y and bool(drawn) and all(y > 0 for y in drawn)
        style_axes(axes, xaxis=_x_axis_of(panel.xlabel), log_y=log_y)
        if drawn and not log_y and min(drawn) == max(drawn) != 0:
            # One value throughout: from 0 to twice it, not a band of ±4% around it.
            low, high = sorted((0.0, 2.0 * drawn[0]))
            axes.set_ylim(low, high)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel(panel.ylabel)
        entries = [c for c in panel.curves if not _legend_text(c).startswith("_")]
        legend = panel.legend if panel.legend is not None else len(entries) > 1
        if legend and entries and not chart.shared_legend:
            axes.legend(fontsize="small")
    if chart.shared_legend:
        handles: dict[str, Any] = {}
        for axes in figure.axes:
            for handle, text in zip(*axes.get_legend_handles_labels(), strict=True):
                handles.setdefault(text, handle)
        if handles:
            figure.legend(
                list(handles.values()),
                list(handles),
                loc="outside lower center",
                ncols=1 if len(handles) > 4 or columns == 1 else 2,
                fontsize="small",
            )
    if heading:
        figure.suptitle(heading)
    return figure


def render(chart: Chart, *, image_format: ImageFormat = "png", allow_empty: bool = False) -> bytes:
    """The image of ``chart`` (``draw``) as PNG or SVG bytes."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    buffer = io.BytesIO()
    draw(chart, allow_empty=allow_empty).savefig(buffer, format=image_format, dpi=100)
    return buffer.getvalue()


def render_panels(
    panels: Sequence[Panel],
    *,
    title: str = "",
    columns: int = 2,
    image_format: ImageFormat = "png",
    allow_empty: bool = False,
) -> bytes:
    """Draw ``panels`` on a grid and return the image's bytes (PNG or SVG) (``render``)."""
    chart = Chart(list(panels), title=title, columns=columns)
    return render(chart, image_format=image_format, allow_empty=allow_empty)


def write_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
