"""PNG figures of learning curves, drawn from plain metric points (no torch).

Points are anything with ``name``, ``step``, ``value`` and ``epoch`` attributes (the
engine's ``MetricPoint``, a store row) or mappings with those keys, so the API can draw a
stored run's ``plot.png`` with the same code as ``adamlab train``. Figures are built on
matplotlib's object API with the Agg canvas (no pyplot global state, safe in threads);
matplotlib is imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Curve:
    """One line: ``label`` and its (x, y) values; ``style`` is a matplotlib format string,
    ``color`` a matplotlib colour (None: the next of the cycle)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
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


def _field(point: Any, name: str) -> Any:
    return point[name] if isinstance(point, Mapping) else getattr(point, name)


def series(points: Iterable[Any], name: str, *, by: str = "step") -> tuple[list, list]:
    """(x, y) of metric ``name`` ordered by ``by`` (``"step"`` or ``"epoch"``)."""
    rows = sorted((_field(p, by), _field(p, "value")) for p in points if _field(p, "name") == name)
    return [x for x, _ in rows], [y for _, y in rows]


def learning_curve_panels(points: Sequence[Any]) -> list[Panel]:
    """The panels of one run: batch loss and learning rate per iteration; losses,
    accuracies (or, for regression, the MSE and w, b) per epoch. Metrics a run did not
    log are left out, and so are panels left empty."""
    names = {_field(p, "name") for p in points}

    def curves(metrics: list[tuple[str, str]], by: str) -> list[Curve]:
        return [
            Curve(label, *series(points, metric, by=by))
            for metric, label in metrics
            if metric in names
        ]

    panels = [
        Panel("Training objective per iteration", "iteration", "batch loss",
              curves([("batch_loss", "batch loss")], "step"), log_y=True),
        Panel("Learning rate", "iteration", "lr", curves([("lr", "lr")], "step")),
        Panel("Loss per epoch", "epoch", "loss",
              curves([("train_loss", "train"), ("val_loss", "validation"),
                      ("test_loss", "test"), ("train_mse", "train MSE")], "epoch"),
              log_y=True),
        Panel("Accuracy per epoch", "epoch", "accuracy",
              curves([("train_acc", "train"), ("val_acc", "validation"),
                      ("test_acc", "test")], "epoch")),
        Panel("Fitted line", "epoch", "value", curves([("w", "w"), ("b", "b")], "epoch")),
    ]  # fmt: skip
    return [panel for panel in panels if panel.curves]


def render_panels(panels: Sequence[Panel], *, title: str = "", columns: int = 2) -> bytes:
    """Draw ``panels`` on a grid and return the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not panels:
        raise ValueError("nothing to plot: no panel has a curve")
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(5.0 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for curve in panel.curves:
            axes.plot(
                curve.xs, curve.ys, curve.style, label=curve.label, color=curve.color, markersize=3
            )
        if panel.log_y and all(y > 0 for c in panel.curves for y in c.ys):
            axes.set_yscale("log")
        if panel.xlabel in ("epoch", "iteration"):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(panel.title)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel(panel.ylabel)
        axes.grid(True, alpha=0.3)
        if len(panel.curves) > 1:
            axes.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def learning_curves_png(points: Sequence[Any], *, title: str = "") -> bytes:
    """PNG of one run's learning curves (see ``learning_curve_panels``)."""
    return render_panels(learning_curve_panels(points), title=title)


def write_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
