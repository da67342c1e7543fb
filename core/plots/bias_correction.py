"""The bias-correction figure of Kingma & Ba (2015, section 6.4, Figure 4) for a sweep of
the ``bias-correction`` preset: the loss (−ELBO, nats per example) after the last epoch
against log10 α, one panel per β1, one line per β2, solid with bias correction and dashed
without. A configuration whose runs failed (a loss that became NaN or infinite: it
diverged) is a marker in a strip at the top of its panel, at its α: × without, + with bias
correction, one row per line, in its β2's colour.

``points_from_report`` reads the points from a sweep's report (``core.sweeps.report``), so
the figure is the report's numbers: per configuration the IQM of its seeds' final metric
(with one seed, its value), or, at an earlier ``epoch``, the median of its learning curve
there (the paper's claim is about the first epochs most of all). The metric is an ELBO
(higher is better) or a loss; the figure draws the loss, −ELBO. matplotlib is imported
inside the functions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from core.figure_style import plain_number, style_axes
from core.metrics import METRICS
from core.plots.drawing import IMAGE_FORMATS, ImageFormat

if TYPE_CHECKING:
    from core.sweeps.report import SweepReport

BETA2_COLORS: dict[float, str] = {0.99: "#2ca02c", 0.999: "#1f77b4", 0.9999: "#d62728"}
"""The line of each β2 of the paper's grid (another β2 is grey)."""
OTHER_COLOR = "#7f7f7f"
SWEPT_PATHS = ("optimizer.betas", "optimizer.bias_correction")
"""What a sweep must vary for this figure (its lr may be swept or the base's)."""


class NotABiasCorrectionSweepError(ValueError):
    """The sweep's configurations do not vary β and the bias correction."""


@dataclass(frozen=True)
class BiasCorrectionPoint:
    """One configuration: β1, β2, α, whether m and v were corrected, and its loss after the
    last epoch (None where it has none); ``diverged`` when a run of it failed."""

    beta1: float
    beta2: float
    lr: float
    bias_correction: bool
    loss: float | None
    diverged: bool = False


def points_from_report(
    report: SweepReport, *, epoch: int | None = None
) -> list[BiasCorrectionPoint]:
    """The figure's points from a sweep's report: the loss is the IQM of the final metric
    (``epoch`` None) or the median of the configuration's curve at ``epoch`` (None where no
    member that succeeded reached it), negated when the metric is higher-is-better (an
    ELBO). NotABiasCorrectionSweepError when the configurations do not set
    ``optimizer.betas`` and ``optimizer.bias_correction``."""
    sign = -1.0 if METRICS[report.metric].higher_is_better else 1.0
    curves = {curve.config_key: curve for curve in report.curves}
    points = []
    for config in report.configurations:
        value = config.iqm
        if epoch is not None:
            curve = curves.get(config.config_key)
            at = curve.epochs.index(epoch) if curve and epoch in curve.epochs else None
            value = curve.median[at] if curve and at is not None else None
        if any(path not in config.params for path in SWEPT_PATHS):
            raise NotABiasCorrectionSweepError(
                f"the sweep does not vary {' and '.join(SWEPT_PATHS)}: the figure needs "
                "both (the bias-correction preset's parameters)"
            )
        beta1, beta2 = cast("Sequence[float]", config.params["optimizer.betas"])
        points.append(
            BiasCorrectionPoint(
                beta1=float(beta1),
                beta2=float(beta2),
                lr=config.lr,
                bias_correction=bool(config.params["optimizer.bias_correction"]),
                loss=sign * value if value is not None else None,
                diverged=any(m.status == "failed" for m in config.members),
            )
        )
    return points


DIVERGED_STRIP = 0.26
"""The top fraction of a panel kept free of lines for the crosses of diverged runs."""


def _panel(axes: Any, points: list[BiasCorrectionPoint], beta1: float) -> None:
    """One β1's lines; a diverged configuration is a marker in the strip at the top, one row
    per line (x without, + with bias correction), in its β2's colour."""
    beta2s = sorted({p.beta2 for p in points})
    crosses: list[tuple[float, int, str, bool]] = []  # (log α, row, colour, corrected)
    for index, beta2 in enumerate(beta2s):
        color = BETA2_COLORS.get(beta2, OTHER_COLOR)
        for corrected in (True, False):
            line = sorted(
                (p for p in points if p.beta2 == beta2 and p.bias_correction is corrected),
                key=lambda p: p.lr,
            )
            if not line:
                continue
            xs = [math.log10(p.lr) for p in line]
            ys = [math.nan if p.loss is None else p.loss for p in line]
            axes.plot(xs, ys, color=color, linestyle="-" if corrected else "--", marker="o",
                      markersize=4, linewidth=1.6,
                      label=f"β2 = {plain_number(beta2)}, {'with' if corrected else 'without'}",
                      gid=f"bias-correction:{beta1:g}:{beta2:g}:{int(corrected)}")  # fmt: skip
            row = 2 * index + (not corrected)
            crosses += [(x, row, color, corrected) for x, p in zip(xs, line, strict=True)
                        if p.diverged]  # fmt: skip
    finite = [p.loss for p in points if p.loss is not None and math.isfinite(p.loss)]
    log_y = bool(finite) and min(finite) > 0
    style_axes(axes, xaxis=None, log_y=log_y)
    if finite:
        _loss_axis(axes, min(finite), max(finite), log_y=log_y)
    rows = 2 * len(beta2s)
    for x, row, color, corrected in crosses:
        height = 1 - DIVERGED_STRIP * (row + 0.5) / rows
        axes.plot([x], [height], linestyle="none", marker="+" if corrected else "x",
                  markersize=7, markeredgewidth=1.6, color=color,
                  transform=axes.get_xaxis_transform())  # fmt: skip
    axes.set_xticks(sorted({math.log10(p.lr) for p in points}))
    axes.set_xlim(min(axes.get_xticks()) - 0.3, max(axes.get_xticks()) + 0.3)
    axes.xaxis.set_major_formatter(_log_tick_formatter())
    axes.set_title(f"β1 = {plain_number(beta1)}")
    axes.set_xlabel("log10 α (step size)")
    axes.set_ylabel("loss: −ELBO (nats per example)")


LOSS_TICKS = (1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 8.0)
"""Tick values per decade of a log loss axis (100, 120, 150, 200, 300, 500, 800, 1000...)."""


def _loss_axis(axes: Any, low: float, high: float, *, log_y: bool) -> None:
    """Limits with the strip for diverged runs above the lines; on a log axis, ticks at
    ``LOSS_TICKS`` written plainly (a loss of 110 to 600 nats spans less than a decade)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    scale = math.log10 if log_y else float
    unscale = (lambda v: 10**v) if log_y else float
    bottom, top = scale(low), scale(high)
    span = max(top - bottom, 1e-3 if log_y else 1.0)
    bottom, top = bottom - 0.05 * span, top + 0.05 * span
    axes.set_ylim(unscale(bottom), unscale(bottom + (top - bottom) / (1 - DIVERGED_STRIP)))
    if log_y:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        ticks = [t * 10**k for k in range(first, last + 1) for t in LOSS_TICKS]
        axes.yaxis.set_major_locator(
            FixedLocator([t for t in ticks if low <= t * 1.05 and t <= high * 1.3])
        )
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v)))
        axes.yaxis.set_minor_formatter(NullFormatter())


def _log_tick_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos: f"{x:g}")


MIN_FIGURE_WIDTH_IN = 9.6
"""Wide enough for the title over one panel and the legend beside it."""


def bias_correction_figure(
    points: Sequence[BiasCorrectionPoint],
    *,
    fmt: ImageFormat,
    title: str = "Bias correction (Kingma & Ba 2015, Figure 4)",
) -> bytes:
    """The figure of ``points`` as PNG or SVG bytes, one panel per β1 in increasing order;
    a cross at the top of a panel marks a configuration that diverged. ValueError for
    another format or no points."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"fmt must be one of {IMAGE_FORMATS}, got {fmt!r}")
    figure = drawn_figure(points, title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    return buffer.getvalue()


def drawn_figure(points: Sequence[BiasCorrectionPoint], *, title: str) -> Any:
    """The matplotlib figure ``bias_correction_figure`` saves (ValueError for no points)."""
    if not points:
        raise ValueError("nothing to plot: no configuration")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    beta1s = sorted({p.beta1 for p in points})
    width = max(5.0 * len(beta1s) + 2.2, MIN_FIGURE_WIDTH_IN)
    figure = Figure(figsize=(width, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(beta1s), squeeze=False, sharey=True).ravel()
    for panel, beta1 in zip(axes, beta1s, strict=True):
        _panel(panel, [p for p in points if p.beta1 == beta1], beta1)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize="small",
                  title="solid: with,\ndashed: without\nbias correction",
                  title_fontsize="small")  # fmt: skip
    if any(p.diverged for p in points):
        title += "\nat the top: diverged (the loss became NaN or infinite), × without, + with"
    figure.suptitle(title)
    return figure
