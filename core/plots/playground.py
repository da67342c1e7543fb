"""The playground's figure: runs of one test problem (``core/problems.py``) side by
side, as PNG, SVG or an animated GIF.

A 2-D problem gets four panels: the trajectories over the function's contour (start ○,
end ×, minima ★), f − f* against the iteration on a log axis, and |Δx| and |Δy|, the
size of the step each coordinate took, on log axes: where one optimizer's two coordinates
take steps of the same size although their gradients differ by the curvature ratio, each
parameter has its own step size. Reddi's 1-D problem gets x against the iteration (the
feasible set [−1, 1] and the minimum −1 marked) beside F − F* and |Δx|. The GIF draws the
first panel growing, step by step.

Each run keeps its optimizer's line of ``core.figure_style`` (a second run of one
optimizer its shade). matplotlib is imported inside the functions.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.figure_style import LineStyle, optimizer_line, style_axes
from core.metrics import MetricSeries
from core.problems import Problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TrajectoryFormat = Literal["png", "svg", "gif"]
TRAJECTORY_MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "gif": "image/gif",
}
COORDINATES = ("x", "y")
STEPS = ("step_x", "step_y")
MAX_POINTS = 4000
"""Steps drawn per run at most: a longer run is drawn at every k-th step (the last kept)."""
GIF_FRAMES = 25
GIF_FPS = 8
STEP_MARKERS = 150
"""A trajectory of at most this many steps has a marker at each: the steps are seen."""
CONTOUR_GRID = 200
CONTOUR_LEVELS = 24


@dataclass(frozen=True)
class Trajectory:
    """One run of a test problem: where it started, and per step (1-based) the position
    after it, the objective there and the step each coordinate took."""

    label: str
    optimizer: str | None
    start: tuple[float, ...]
    steps: Sequence[int]
    positions: Sequence[tuple[float, ...]]
    objective: Sequence[float | None]
    step_sizes: Sequence[tuple[float, ...]]

    @classmethod
    def from_curves(
        cls,
        curves: Mapping[str, MetricSeries],
        *,
        label: str,
        optimizer: str | None,
        start: Sequence[float],
    ) -> Trajectory:
        """A run's trajectory from its curves of ``x`` (and ``y``), ``f`` and the steps;
        only the steps at which every one of them has a finite value."""
        dimensions = len(start)
        names = [*COORDINATES[:dimensions], "f", *STEPS[:dimensions]]
        by_step: list[dict[int, float]] = []
        for name in names:
            curve = curves.get(name)
            values = {} if curve is None else dict(zip(curve.steps, curve.values, strict=True))
            by_step.append({s: v for s, v in values.items() if v is not None and math.isfinite(v)})
        steps = sorted(set.intersection(*(set(values) for values in by_step)))
        rows = [[values[step] for values in by_step] for step in steps]
        return cls(
            label=label,
            optimizer=optimizer,
            start=tuple(start),
            steps=steps,
            positions=[tuple(row[:dimensions]) for row in rows],
            objective=[row[dimensions] for row in rows],
            step_sizes=[tuple(row[dimensions + 1 :]) for row in rows],
        )

    def thinned(self, max_points: int = MAX_POINTS) -> Trajectory:
        """Every k-th step, k the smallest that leaves at most ``max_points`` (the last
        step always kept)."""
        if len(self.steps) <= max_points:
            return self
        stride = math.ceil(len(self.steps) / max_points)
        keep = list(range(0, len(self.steps), stride))
        if keep[-1] != len(self.steps) - 1:
            keep.append(len(self.steps) - 1)
        return Trajectory(
            label=self.label,
            optimizer=self.optimizer,
            start=self.start,
            steps=[self.steps[i] for i in keep],
            positions=[self.positions[i] for i in keep],
            objective=[self.objective[i] for i in keep],
            step_sizes=[self.step_sizes[i] for i in keep],
        )

    def path(self, upto: int | None = None) -> list[tuple[float, ...]]:
        """The start, then the positions of the first ``upto`` steps (all by default)."""
        return [self.start, *self.positions[:upto]]


def _lines(trajectories: Sequence[Trajectory]) -> list[LineStyle]:
    """Each run's line: its optimizer's, the n-th run of one optimizer its n-th variant
    (a shade and a marker of its own)."""
    seen: dict[str | None, int] = {}
    lines = []
    for trajectory in trajectories:
        variant = seen.get(trajectory.optimizer, 0)
        seen[trajectory.optimizer] = variant + 1
        lines.append(optimizer_line(trajectory.optimizer, variant))
    return lines


def _every(count: int) -> int:
    """Draw a marker at every k-th point: each step while there are few."""
    return 1 if count <= STEP_MARKERS else math.ceil(count / 20)


def contour_window(
    problem: Problem, trajectories: Sequence[Trajectory]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The contour panel's (x, y) ranges: the problem's window, widened to the starts and
    to the trajectories, by at most half the window's span on each side (a run that
    diverges does not shrink the function to a dot)."""
    ranges = []
    for axis in range(2):
        low, high = problem.window[axis]
        span = high - low
        values = [p[axis] for t in trajectories for p in t.path()]
        values = [v for v in values if math.isfinite(v)]
        if values:
            low = max(min(low, min(values)), low - span / 2)
            high = min(max(high, max(values)), high + span / 2)
        pad = 0.03 * (high - low)
        ranges.append((low - pad, high + pad))
    return ranges[0], ranges[1]


def _draw_contour(axes: Any, problem: Problem, trajectories: Sequence[Trajectory]) -> None:
    """The function's level sets under the runs, its minima as stars."""
    import numpy as np

    (x_low, x_high), (y_low, y_high) = contour_window(problem, trajectories)
    xs = np.linspace(x_low, x_high, CONTOUR_GRID)
    ys = np.linspace(y_low, y_high, CONTOUR_GRID)
    grid_x, grid_y = np.meshgrid(xs, ys)
    gap = np.asarray(problem.objective(grid_x, grid_y), dtype=float) - problem.minimum_value
    if problem.log_levels:
        positive = gap[gap > 0]
        low = max(float(np.percentile(positive, 0.5)), float(positive.max()) * 1e-9)
        levels = np.geomspace(low, float(positive.max()), CONTOUR_LEVELS)
        axes.contour(grid_x, grid_y, np.maximum(gap, low * 0.5), levels=levels,
                     cmap="Greys_r", linewidths=0.6, alpha=0.55)  # fmt: skip
    else:
        axes.contour(grid_x, grid_y, gap, levels=CONTOUR_LEVELS, cmap="Greys_r",
                     linewidths=0.6, alpha=0.55)  # fmt: skip
    for minimum in problem.minima:
        axes.plot(*minimum, marker="*", markersize=12, color="#222222", linestyle="none",
                  zorder=5)  # fmt: skip
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel("x")
    axes.set_ylabel("y")


def _draw_paths(
    axes: Any,
    trajectories: Sequence[Trajectory],
    lines: Sequence[LineStyle],
    upto: int | None = None,
) -> list[Any]:
    """Each run's path from its start (○) to its position after ``upto`` steps (×)."""
    artists = []
    for trajectory, line in zip(trajectories, lines, strict=True):
        path = trajectory.path(upto)
        xs = [p[0] for p in path]
        ys = [p[1] for p in path]
        (drawn,) = axes.plot(xs, ys, color=line.color, linestyle=line.dashes,
                             linewidth=line.width, label=trajectory.label, marker=line.marker,
                             markersize=2.5, markevery=_every(len(trajectory.steps)),
                             gid=f"trajectory:{trajectory.label}")  # fmt: skip
        (start,) = axes.plot(xs[:1], ys[:1], marker="o", color=line.color, fillstyle="none",
                             linestyle="none", markersize=7)  # fmt: skip
        (end,) = axes.plot(xs[-1:], ys[-1:], marker="x", color=line.color, linestyle="none",
                           markersize=8, markeredgewidth=2)  # fmt: skip
        artists += [drawn, start, end]
    return artists


def _draw_positions(
    axes: Any, problem: Problem, trajectories: Sequence[Trajectory], lines: Sequence[LineStyle]
) -> None:
    """A 1-D problem's x against the iteration, the feasible set and the minimum marked."""
    (low, high), minimum = problem.window[0], problem.minima[0][0]
    axes.axhspan(low, high, color="#eeeeee", zorder=0, label="_feasible")
    axes.axhline(minimum, color="#222222", linestyle=":", linewidth=1.0, label="minimum")
    for trajectory, line in zip(trajectories, lines, strict=True):
        steps = [0, *trajectory.steps]
        xs = [p[0] for p in trajectory.path()]
        axes.plot(steps, xs, color=line.color, linestyle=line.dashes, linewidth=line.width,
                  label=trajectory.label, marker=line.marker, markersize=3,
                  markevery=max(1, len(steps) // 12),
                  gid=f"trajectory:{trajectory.label}")  # fmt: skip
    style_axes(axes, xaxis="iteration", log_y=False)
    axes.set_xlabel("iteration")
    axes.set_ylabel("x")


def _draw_against_step(
    axes: Any,
    trajectories: Sequence[Trajectory],
    lines: Sequence[LineStyle],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    ylabel: str,
) -> None:
    """One value per step of each run on a log axis (values ≤ 0 left out)."""
    for trajectory, line, ys in zip(trajectories, lines, values, strict=True):
        kept = [(s, y) for s, y in zip(trajectory.steps, ys, strict=True) if y > 0]
        axes.plot([s for s, _ in kept], [y for _, y in kept], color=line.color,
                  linestyle=line.dashes, linewidth=line.width, label=trajectory.label,
                  marker=line.marker, markersize=3, markevery=max(1, len(kept) // 12),
                  gid=f"curve:{title}:{trajectory.label}")  # fmt: skip
    drawn = any(y > 0 for ys in values for y in ys)
    style_axes(axes, xaxis="iteration", log_y=drawn)
    axes.set_title(title)
    axes.set_xlabel("iteration")
    axes.set_ylabel(ylabel)


def draw_playground(
    problem: Problem, trajectories: Sequence[Trajectory], *, title: str = ""
) -> Figure:
    """The figure of ``trajectories`` on ``problem`` (see the module's docstring)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not trajectories or not any(t.steps for t in trajectories):
        raise ValueError("nothing to plot: no run has a step")
    trajectories = [t.thinned() for t in trajectories]
    lines = _lines(trajectories)
    two_d = problem.dimensions == 2
    columns = 2 if two_d else 3
    rows = 2 if two_d else 1
    figure = Figure(figsize=(5.6 * columns, 4.2 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    first = figure.add_subplot(rows, columns, 1)
    if two_d:
        _draw_contour(first, problem, trajectories)
        _draw_paths(first, trajectories, lines)
        first.set_title(f"{problem.title}: trajectories")
    else:
        _draw_positions(first, problem, trajectories, lines)
        first.set_title(f"{problem.title}: position")
    gaps = [
        [(math.nan if f is None else f) - problem.minimum_value for f in t.objective]
        for t in trajectories
    ]
    _draw_against_step(figure.add_subplot(rows, columns, 2), trajectories, lines, gaps,
                       title="f − f* per iteration", ylabel="f − f*")  # fmt: skip
    for axis in range(problem.dimensions):
        coordinate = COORDINATES[axis]
        sizes = [[abs(s[axis]) for s in t.step_sizes] for t in trajectories]
        _draw_against_step(figure.add_subplot(rows, columns, 3 + axis), trajectories, lines,
                           sizes, title=f"step size in {coordinate}, |Δ{coordinate}|",
                           ylabel=f"|Δ{coordinate}|")  # fmt: skip
    handles, labels = first.get_legend_handles_labels()
    kept = [(h, t) for h, t in zip(handles, labels, strict=True) if not t.startswith("_")]
    figure.legend([h for h, _ in kept], [t for _, t in kept], loc="outside lower center",
                  ncols=min(4, len(kept)), fontsize="small")  # fmt: skip
    if title:
        figure.suptitle(title)
    return figure


def _animation_bytes(problem: Problem, trajectories: Sequence[Trajectory]) -> bytes:
    """The first panel drawn growing over ``GIF_FRAMES`` frames, as an animated GIF, titled
    with the problem and the step."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    trajectories = [t.thinned() for t in trajectories]
    lines = _lines(trajectories)
    figure = Figure(figsize=(5.6, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    longest = max(len(t.steps) for t in trajectories)
    frames = sorted({math.ceil(longest * (k + 1) / GIF_FRAMES) for k in range(GIF_FRAMES)})
    artists: list[Any] = []

    def frame(upto: int) -> list[Any]:
        for artist in artists:
            artist.remove()
        artists.clear()
        if problem.dimensions == 2:
            artists.extend(_draw_paths(axes, trajectories, lines, upto))
        else:
            for trajectory, line in zip(trajectories, lines, strict=True):
                steps = [0, *trajectory.steps[:upto]]
                xs = [p[0] for p in trajectory.path(upto)]
                artists.extend(axes.plot(steps, xs, color=line.color, linestyle=line.dashes,
                                         linewidth=line.width, label=trajectory.label))  # fmt: skip
        step = max(t.steps[min(upto, len(t.steps)) - 1] for t in trajectories if t.steps)
        axes.set_title(f"{problem.title}: step {step}")
        return artists

    if problem.dimensions == 2:
        _draw_contour(axes, problem, trajectories)
    else:
        (low, high), minimum = problem.window[0], problem.minima[0][0]
        axes.axhspan(low, high, color="#eeeeee", zorder=0)
        axes.axhline(minimum, color="#222222", linestyle=":", linewidth=1.0)
        axes.set_xlim(0, max(t.steps[-1] for t in trajectories if t.steps))
        axes.set_ylim(low - 0.1, high + 0.1)
        axes.set_xlabel("iteration")
        axes.set_ylabel("x")
    frame(frames[-1])
    axes.legend(loc="best", fontsize="small")
    animation = FuncAnimation(figure, frame, frames=frames, blit=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trajectories.gif"
        animation.save(str(path), writer=PillowWriter(fps=GIF_FPS), dpi=80)
        return path.read_bytes()


def render_playground(
    problem: Problem,
    trajectories: Sequence[Trajectory],
    *,
    image_format: TrajectoryFormat = "png",
    title: str = "",
) -> bytes:
    """The playground figure as PNG or SVG bytes (``title`` over it), or its first panel
    animated as a GIF."""
    if image_format == "gif":
        if not any(t.steps for t in trajectories):
            raise ValueError("nothing to plot: no run has a step")
        return _animation_bytes(problem, trajectories)
    if image_format not in ("png", "svg"):
        raise ValueError(f"image_format must be png, svg or gif, got {image_format!r}")
    buffer = io.BytesIO()
    draw_playground(problem, trajectories, title=title).savefig(
        buffer, format=image_format, dpi=100
    )
    return buffer.getvalue()


def run_label(optimizer: Mapping[str, Any]) -> str:
    """A run's legend from its optimizer spec (as JSON): ``SGD lr 0.019, momentum 0.9``,
    ``AMSGrad lr 0.5``, ``Adam lr 0.001, no bias correction``."""
    from core.figure_style import optimizer_label

    name = optimizer.get("name")
    label = "AMSGrad" if optimizer.get("amsgrad") and name == "adam" else optimizer_label(name)
    words = [f"{label} lr {optimizer['lr']:g}" if "lr" in optimizer else label]
    if optimizer.get("momentum"):
        words.append(f"{'Nesterov ' if optimizer.get('nesterov') else ''}momentum "
                     f"{optimizer['momentum']:g}")  # fmt: skip
    if optimizer.get("bias_correction") is False:
        words.append("no bias correction")
    return ", ".join(words)
