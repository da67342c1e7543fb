"""One look for every figure (``core.plots``: a run's curves, a comparison, the Table 1
figures): the line of each optimizer and how the axes are labelled.

- An optimizer always has the same colour and dash pattern: Adam solid blue, AdaMax
  dashed orange, AdamW dash-dotted green, and so on (``OPTIMIZER_LINES``). Lines of the
  same optimizer in one figure (two learning rates, dropout or none, train and test of
  one run) are told apart by ``variant``: a darker or lighter shade of that colour and,
  on per-epoch curves, a different marker.
- Log axes are labelled with plain numbers (0.2, 0.6, 2) rather than 2x10^0; epoch and
  iteration axes get integer ticks; a count of examples reads 20k, 1.5M.

matplotlib is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

LineDashes = str | tuple[float, tuple[float, ...]]
"""A matplotlib linestyle: a name (``"-"``, ``"--"``, ``"-."``, ``":"``) or an
(offset, on-off sequence) tuple."""

XAxis = Literal["iteration", "epoch", "examples"]
X_LABELS: dict[XAxis, str] = {
    "iteration": "iteration",
    "epoch": "epoch",
    "examples": "examples seen",
}


@dataclass(frozen=True)
class LineStyle:
    """How one line is drawn."""

    color: str
    dashes: LineDashes = "-"
    marker: str = ""
    """Marker of a per-epoch curve ("" none); per-iteration curves are drawn without."""
    width: float = 1.6
    alpha: float = 1.0

    def faint(self) -> LineStyle:
        """The same line thin and pale: the raw values under their smoothed curve."""
        return replace(self, marker="", width=0.7, alpha=0.25)

    def without_marker(self) -> LineStyle:
        return replace(self, marker="")


OPTIMIZER_LABELS: dict[str, str] = {
    "adam": "Adam",
    "adamax": "AdaMax",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
}
"""How an optimizer (by its spec name) is written in a legend."""

OPTIMIZER_LINES: dict[str, tuple[str, LineDashes]] = {
    "adam": ("#1f77b4", "-"),
    "adamax": ("#ff7f0e", "--"),
    "adamw": ("#2ca02c", "-."),
    "sgd": ("#7f7f7f", ":"),
    "rmsprop": ("#9467bd", (0, (6, 1.5, 1, 1.5, 1, 1.5))),
    "adagrad": ("#8c564b", (0, (9, 3))),
    "adadelta": ("#e377c2", (0, (3, 1, 1, 1, 1, 1, 1, 1))),
}
"""Colour and dash pattern of each optimizer, the same in every figure."""

OTHER_LINE: tuple[str, LineDashes] = ("#17becf", (0, (4, 2, 1, 2)))
"""An optimizer not in ``OPTIMIZER_LINES`` (or none known)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SHADES = (0.0, -0.35, 0.45, -0.6, 0.7)
"""Per variant: mixed towards black (< 0) or white (> 0) by that fraction."""


def optimizer_label(optimizer: str | None) -> str:
    """``"adamax"`` → ``"AdaMax"``; an unknown name as it is."""
    if optimizer is None:
        return "?"
    return OPTIMIZER_LABELS.get(optimizer, optimizer)


def shade(color: str, amount: float) -> str:
    """``color`` (``#rrggbb``) mixed towards black (``amount`` < 0) or white (> 0)."""
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    mixed = [round(c + (target - c) * abs(amount)) for c in channels]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def optimizer_line(optimizer: str | None, variant: int = 0) -> LineStyle:
    """The line of ``optimizer``'s ``variant``-th curve in a figure (0: the first)."""
    color, dashes = OPTIMIZER_LINES.get(optimizer or "", OTHER_LINE)
    return LineStyle(
        color=shade(color, SHADES[variant % len(SHADES)]),
        dashes=dashes,
        marker=MARKERS[variant % len(MARKERS)],
    )


def plain_number(value: float) -> str:
    """A tick label without powers of ten where a decimal reads as well: 0.2, 0.6, 2, 300,
    0.0001; below 1e-4 or from 1e6 on, 1e-05 or 2e+06."""
    if value == 0:
        return "0"
    return f"{value:.6g}"


def style_axes(axes: Any, *, xaxis: XAxis | None, log_y: bool) -> None:
    """The figure style of one set of axes (after its lines are drawn): integer ticks on
    epoch and iteration axes, 20k for counts of examples, plain numbers on a log y axis,
    a light grid (``xaxis`` None: matplotlib's own x ticks)."""
    from matplotlib.ticker import EngFormatter, LogFormatter, MaxNLocator

    class PlainLogFormatter(LogFormatter):
        """matplotlib's choice of which log ticks get a label, written plainly."""

        def __call__(self, x: float, pos: int | None = None) -> str:
            return plain_number(x) if super().__call__(x, pos) else ""

    if xaxis == "examples":
        axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    elif xaxis is not None:
        # min_n_ticks=1: a one-epoch run gets the tick 1, not 0.945, 0.96, ...
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if log_y:
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(PlainLogFormatter())
        # Every minor tick labelled within a decade, a subset within two (matplotlib
        # labels fewer by default, which leaves a narrow loss axis with one label).
        minor = PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1))
        axes.yaxis.set_minor_formatter(minor)
    axes.grid(True, alpha=0.3)
    axes.grid(True, which="minor", alpha=0.12)
