"""A sweep's figure (``core.sweeps.report.SweepReport``): the learning-rate sensitivity of
each optimizer (DeepOBS: final metric against log lr, a band across seeds; one panel per
task), the learning curves of the best configurations, and the ranking of configurations by
IQM with its confidence interval (rliable).

The lines are the figure style's (``core.figure_style``: each optimizer's colour and dash
pattern, plain numbers on log axes, integer epoch ticks), so a sweep's figure reads like a
comparison's. The panels need bands and error bars, which ``core.plots.chart``'s line model
does not hold, so they are drawn here, on the same Agg canvas as ``core.plots.drawing``. In
SVG each line is a ``<g>`` with an ``id``: ``sensitivity:<task>:<optimizer>``,
``curve:<config_key>`` and ``rank:<config_key>``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.figure_style import OPTIMIZER_LINES, optimizer_label, optimizer_line, plain_number
from core.figure_style import style_axes as style_figure_axes
from core.metrics import METRICS
from core.plots.drawing import IMAGE_FORMATS, ImageFormat

if TYPE_CHECKING:
    from core.sweeps.report import ConfigurationResult, Sensitivity, SweepReport

MAX_CURVES = 8
"""The most configurations whose learning curves are drawn (the best by rank)."""
MAX_RANKED = 15
"""The most configurations in the ranking panel (the best by rank)."""
NO_RESULTS = "no finished members yet"
BAND_ALPHA = 0.18
TARGET_COLOR = "#555555"
SEED_OFFSET = 0.25
"""How far under its interval bar a configuration's seeds are drawn (rows are 1 apart)."""
SPLIT_PARAMS = ("optimizer.name", "optimizer.lr")
"""Params every label states as "Adam, lr 0.001" rather than as key=value."""


def _number(value: object) -> str:
    return plain_number(value) if isinstance(value, float) else str(value)


def configuration_label(config: ConfigurationResult, *, with_task: bool = False) -> str:
    """``Adam, lr 0.001, dropout=0.5`` (a param by the last part of its path), with the
    task where the figure spans several; at most 48 characters."""
    parts = [optimizer_label(config.optimizer), f"lr {plain_number(config.lr)}"]
    for key, value in config.params.items():
        if key not in SPLIT_PARAMS:
            parts.append(f"{key.rsplit('.', 1)[-1]}={_number(value)}")
    if with_task:
        parts.append(config.task)
    label = ", ".join(parts)
    return label if len(label) <= 48 else label[:47] + "…"


def _optimizer_order(optimizer: str) -> tuple[int, str]:
    names = list(OPTIMIZER_LINES)
    return (names.index(optimizer) if optimizer in names else len(names), optimizer)


def _empty(axes: Any, title: str) -> None:
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, NO_RESULTS, ha="center", va="center", transform=axes.transAxes,
              color="#666666")  # fmt: skip


def _log_lr_axis(axes: Any, lrs: Sequence[float]) -> None:
    """A log x axis of learning rates: ticks at the rates tried (up to 8 of them), each
    written plainly."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axes.set_xscale("log")
    tried = sorted(set(lrs))
    if len(tried) <= 8:
        axes.xaxis.set_major_locator(FixedLocator(tried))
        axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: plain_number(x)))
    if len(tried) == 1:
        axes.set_xlim(tried[0] / 3, tried[0] * 3)


def _positive(values: Sequence[float | None]) -> bool:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return bool(finite) and all(v > 0 for v in finite)


def _sensitivity_panel(axes: Any, report: SweepReport, rows: list[Sensitivity], title: str) -> None:
    """Final metric against lr per optimizer: the median over seeds, the q25–q75 band."""
    info = METRICS[report.metric]
    if not rows:
        _empty(axes, title)
        return
    for row in sorted(rows, key=lambda r: _optimizer_order(r.optimizer)):
        line = optimizer_line(row.optimizer)
        lrs = [p.lr for p in row.points]
        medians = [p.median for p in row.points]
        axes.plot(lrs, medians, color=line.color, linestyle=line.dashes, marker=line.marker,
                  markersize=5, linewidth=line.width, label=optimizer_label(row.optimizer),
                  gid=f"sensitivity:{row.task}:{row.optimizer}")  # fmt: skip
        lows, highs = [p.q25 for p in row.points], [p.q75 for p in row.points]
        if len(lrs) > 1:
            axes.fill_between(lrs, lows, highs, color=line.color, alpha=BAND_ALPHA, linewidth=0)
        else:
            axes.vlines(lrs, lows, highs, color=line.color, alpha=0.5, linewidth=4)
    values = [v for r in rows for p in r.points for v in (p.q25, p.median, p.q75)]
    _target_line(axes, report, vertical=False)
    style_figure_axes(axes, xaxis=None, log_y=info.log_y and _positive(values))
    _log_lr_axis(axes, [p.lr for r in rows for p in r.points])
    axes.set_title(title)
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel(f"final {info.label}")
    axes.legend(fontsize="small", title="median, q25–q75 of seeds", title_fontsize="x-small")


def _target_line(axes: Any, report: SweepReport, *, vertical: bool) -> None:
    """The target as a dotted line across the panel, labelled at its end."""
    if report.target is None:
        return
    style = {"color": TARGET_COLOR, "fontsize": "x-small"}
    if vertical:
        axes.axvline(report.target, color=TARGET_COLOR, linestyle=":", linewidth=1.0)
        axes.text(report.target, 1.0, " target", transform=axes.get_xaxis_transform(),
                  ha="left", va="top", **style)  # fmt: skip
    else:
        axes.axhline(report.target, color=TARGET_COLOR, linestyle=":", linewidth=1.0)
        axes.text(0.01, report.target, "target", transform=axes.get_yaxis_transform(),
                  ha="left", va="bottom", **style)  # fmt: skip


def _plain_log_x(axes: Any) -> None:
    """A log x axis labelled with plain numbers (0.02, 0.1), as the figure style labels a
    log y axis: matplotlib's choice of ticks to label, each written with plain_number."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return plain_number(x) if super().__call__(x, pos) else ""

    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(PlainLogFormatter())
    axes.xaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))


def _curves_panel(axes: Any, report: SweepReport, with_task: bool) -> None:
    """The median learning curve of each of the best ``MAX_CURVES`` configurations, with
    its q25–q75 band across seeds."""
    info = METRICS[report.metric]
    configs = {c.config_key: c for c in report.configurations}
    drawn = [c for c in report.curves if c.epochs][:MAX_CURVES]
    with_curves = sum(bool(c.epochs) for c in report.curves)
    title = "Learning curves (median, q25–q75 of seeds)"
    if with_curves > len(drawn):
        title = f"Learning curves: best {len(drawn)} of {with_curves} configurations"
    if not drawn:
        _empty(axes, title)
        return
    seen: dict[str, int] = {}
    for curve in drawn:
        config = configs[curve.config_key]
        variant = seen.get(config.optimizer, 0)
        seen[config.optimizer] = variant + 1
        line = optimizer_line(config.optimizer, variant)
        median = [math.nan if v is None else v for v in curve.median]
        label = configuration_label(config, with_task=with_task)
        if config.rank is not None:
            label = f"#{config.rank} {label}"
        axes.plot(curve.epochs, median, color=line.color, linestyle=line.dashes,
                  marker=line.marker, markersize=4, markevery=max(1, len(curve.epochs) // 12),
                  linewidth=line.width, label=label, gid=f"curve:{curve.config_key}")  # fmt: skip
        lows = [math.nan if v is None else v for v in curve.q25]
        highs = [math.nan if v is None else v for v in curve.q75]
        axes.fill_between(curve.epochs, lows, highs, color=line.color, alpha=BAND_ALPHA * 0.8,
                          linewidth=0)  # fmt: skip
    values = [v for c in drawn for v in (*c.q25, *c.q75)]
    _target_line(axes, report, vertical=False)
    style_figure_axes(axes, xaxis="epoch", log_y=info.log_y and _positive(values))
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.set_ylabel(info.label)
    axes.legend(fontsize="x-small", ncols=2 if len(drawn) > 4 else 1, loc="best")


def _ranking_panel(axes: Any, report: SweepReport, with_task: bool) -> None:
    """The best ``MAX_RANKED`` configurations' IQM (a dot) with its confidence interval
    (a bar), best at the top, each seed's final value a small dot just under its bar."""
    info = METRICS[report.metric]
    valued = [c for c in report.configurations if c.iqm is not None]
    shown = valued[:MAX_RANKED]
    level = f"{report.confidence:.0%}"
    title = f"Ranking by interquartile mean ({level} bootstrap interval)"
    if len(valued) > len(shown):
        title += f": best {len(shown)} of {len(valued)}"
    if not shown:
        _empty(axes, title)
        return
    positions = list(range(len(shown), 0, -1))
    for config, y in zip(shown, positions, strict=True):
        color = optimizer_line(config.optimizer).color
        seeds = list(config.seed_values().values())
        axes.scatter(seeds, [y - SEED_OFFSET] * len(seeds), marker="o", s=10, color=color,
                     alpha=0.55, linewidths=0, zorder=2)  # fmt: skip
        assert config.iqm is not None
        low = config.ci_low if config.ci_low is not None else config.iqm
        high = config.ci_high if config.ci_high is not None else config.iqm
        bar = axes.errorbar([config.iqm], [y], xerr=[[config.iqm - low], [high - config.iqm]],
                            fmt="o", color=color, markersize=6, capsize=4, elinewidth=2,
                            zorder=3)  # fmt: skip
        bar.lines[0].set_gid(f"rank:{config.config_key}")  # the IQM's dot
    labels = [f"#{c.rank} {configuration_label(c, with_task=with_task)} (n={c.n})" for c in shown]
    axes.set_yticks(positions, labels, fontsize="small")
    axes.get_yticklabels()[0].set_fontweight("bold")
    axes.set_ylim(0.4, len(shown) + 0.6)
    seeds_drawn = [v for c in shown for v in c.seed_values().values()]
    _target_line(axes, report, vertical=True)
    style_figure_axes(axes, xaxis=None, log_y=False)
    if info.log_y and _positive(seeds_drawn):
        _plain_log_x(axes)
    axes.grid(False, axis="y")
    axes.set_title(title)
    better = "higher" if report.goal == "maximize" else "lower"
    axes.set_xlabel(f"final {info.label} ({better} is better; small dots: seeds)")


def _heading(report: SweepReport, name: str | None) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    goal = "maximize" if report.goal == "maximize" else "minimize"
    target = f", target {plain_number(report.target)}" if report.target is not None else ""
    label = f"Sweep {name!r}" if name else "Sweep"
    return f"{label}: {goal} final {METRICS[report.metric].label}{target}\n{counts or 'no members'}"


def sweep_report_figure(report: SweepReport, *, fmt: ImageFormat, name: str | None = None) -> bytes:
    """The figure of ``report`` (of the sweep ``name``, in its title) as PNG or SVG bytes:
    a learning-rate sensitivity panel per task and the learning curves on top, the ranking
    under them (panels without results say so). ValueError for another format."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"fmt must be one of {IMAGE_FORMATS}, got {fmt!r}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = sorted({c.task for c in report.configurations})
    with_task = len(tasks) > 1
    columns = min(3, len(tasks) + 1) if tasks else 2
    rows = -(-(max(1, len(tasks)) + 1) // columns)
    ranked = min(MAX_RANKED, sum(c.iqm is not None for c in report.configurations))
    top_height, bottom_height = 3.9 * rows, 1.3 + 0.26 * max(ranked, 2)
    figure = Figure(figsize=(5.4 * columns, top_height + bottom_height + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    parts = figure.subfigures(2, 1, squeeze=False, height_ratios=[top_height, bottom_height])
    top, bottom = parts[0, 0], parts[1, 0]
    axes = top.subplots(rows, columns, squeeze=False).ravel()
    by_task = {task: [s for s in report.sensitivity if s.task == task] for task in tasks}
    for index, task in enumerate(tasks or [""]):
        title = f"Learning-rate sensitivity: {task}" if with_task else "Learning-rate sensitivity"
        _sensitivity_panel(axes[index], report, by_task.get(task, []), title)
    _curves_panel(axes[max(1, len(tasks))], report, with_task)
    for unused in axes[max(1, len(tasks)) + 1 :]:
        unused.set_visible(False)
    _ranking_panel(bottom.subplots(), report, with_task)
    figure.suptitle(_heading(report, name))
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    return buffer.getvalue()
