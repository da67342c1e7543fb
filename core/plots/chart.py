"""The model of a figure: a ``Chart`` of panels (``Panel``) of curves (``Curve``), and the
metric points (or curves by metric) that panels are built from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.figure_style import LineStyle
from core.metrics import MetricPoint, MetricSeries

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


def curves_by_name(
    points: Sequence[PointLike] | Mapping[str, MetricSeries],
) -> Mapping[str, MetricSeries]:
    """Curves by metric name: ``points`` as they are when already split, else grouped
    (``series_by_name``)."""
    return points if isinstance(points, Mapping) else series_by_name(points)
