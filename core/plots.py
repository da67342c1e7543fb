"""Figures of learning curves, drawn from plain metric values (no torch).

Two inputs are accepted: points (``core.metrics.MetricPoint``, or mappings with its
field names as keys), or curves already split by metric (``core.metrics.MetricSeries``:
parallel lists, as the store reads them). Which panel a metric goes to, its label and
whether its axis is logarithmic come from the registry ``core.metrics.METRICS``; how
lines and axes look comes from ``core.figure_style`` (one colour and dash pattern per
optimizer, plain log labels, integer epoch ticks), the same in every figure. So the API
draws a stored run's ``plot.png`` with the same panels and lines as ``adamlab train``.

A figure is a ``Chart`` (panels, title, notes): ``run_chart`` for one run (a constant
learning rate is a note, not a flat panel; the title says how far a stopped run got),
``comparison_panels`` for runs overlaid. ``draw`` builds the matplotlib ``Figure``
(object API, Agg canvas: no pyplot global state, safe in threads), ``render`` its PNG or
SVG bytes; matplotlib is imported inside the functions so importing this module stays
cheap. In SVG every line is a ``<g>`` whose ``id`` is ``curve:<panel title>:<label>``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.figure_style import (
    X_LABELS,
    LineStyle,
    XAxis,
    optimizer_label,
    optimizer_line,
    style_axes,
)
from core.metrics import METRICS, PANELS, MetricPoint, MetricSeries, panel_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageFormat = Literal["png", "svg"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("png", "svg")
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
X_AXES: tuple[XAxis, ...] = ("iteration", "epoch", "examples")
NO_POINTS = "no points yet"
"""What a panel without any line says."""

DEFAULT_LINE = LineStyle(color="#333333")


@dataclass(frozen=True)
class Curve:
    """One line: ``label`` and its (x, y) values, drawn with ``line``. ``label`` names the
    line in the SVG (``curve:<panel>:<label>``) and, unless ``legend`` is given, in the
    legend; ``legend=""`` leaves it out of the legend. A y of None (a value that was not
    finite) leaves a gap."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    line: LineStyle = DEFAULT_LINE
    legend: str | None = None


@dataclass(frozen=True)
class Panel:
    """One set of axes."""

    title: str
    xlabel: str
    ylabel: str
    curves: list[Curve] = field(default_factory=list)
    log_y: bool = False
    legend: bool | None = None
    """Draw a legend: None when the panel has more than one entry for it."""


@dataclass(frozen=True)
class Chart:
    """A whole figure: its panels on a grid, a title and notes (one short line, under the
    title)."""

    panels: list[Panel]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    columns: int = 2
    shared_legend: bool = False
    """One legend under the panels (each entry once, e.g. one per compared run) instead
    of one per panel."""


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


def _by_name(
    points: Sequence[PointLike] | Mapping[str, MetricSeries],
) -> Mapping[str, MetricSeries]:
    return points if isinstance(points, Mapping) else series_by_name(points)


# --- smoothing --------------------------------------------------------------------------------


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


def _smoothed(
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


# --- one run ----------------------------------------------------------------------------------


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
    by_name = _by_name(points)
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
                mean = _smoothed(metric, curve, smoothing, smoothed)
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
    by_name = _by_name(points)
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


# --- several runs -----------------------------------------------------------------------------


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
                mean = _smoothed(metric, curve, smoothing, run.smoothed)
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


# --- drawing ----------------------------------------------------------------------------------


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


def learning_curves_png(
    points: Sequence[PointLike],
    *,
    title: str = "",
    spec: Mapping[str, Any] | None = None,
    status: str | None = None,
) -> bytes:
    """PNG of one run's learning curves (``run_chart``)."""
    return render(run_chart(points, spec=spec, status=status, title=title))


def write_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
