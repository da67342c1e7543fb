"""What the dashboard's pages need to know of the server's own tables, sent as one JSON
document (``GET /dashboard/config.json``) so that nothing is written twice: the metrics
registry (``core.metrics``), the figures' colours and dash patterns
(``core.figure_style``), the listing's sort keys, the data sets' training-split sizes (for
the x axis "examples seen", as ``core.plots.comparison.Pace``) and the study's Table 1
(``core.table1``)."""

from __future__ import annotations

import typing
from typing import Any

from core.figure_style import OPTIMIZER_LABELS, OPTIMIZER_LINES, OTHER_LINE, SHADES, LineDashes
from core.metrics import METRICS, PANELS
from core.spec.datasets import DATASET_VARIANTS, PublishedSplitsDataset
from core.store.listing import SORT_KEYS, SORT_METRICS

LINE_WIDTH_PT = 1.6
"""``core.figure_style.LineStyle.width``."""
PX_PER_PT = 96 / 72
NAMED_DASHES: dict[str, tuple[float, ...]] = {
    "-": (),
    "--": (3.7, 1.6),
    "-.": (6.4, 1.6, 1.0, 1.6),
    ":": (1.0, 1.65),
}
"""matplotlib's named line styles as on-off lengths in line widths (its rcParams
``lines.dashed_pattern``, ``dashdot_pattern``, ``dotted_pattern``; scaled by the line's
width, as ``lines.scale_dashes`` does by default)."""


def dash_px(dashes: LineDashes, *, width_pt: float = LINE_WIDTH_PT) -> list[float]:
    """A matplotlib line style as the on-off lengths in CSS pixels that a canvas's
    ``setLineDash`` takes ([] is solid)."""
    pattern = NAMED_DASHES[dashes] if isinstance(dashes, str) else dashes[1]
    return [round(length * width_pt * PX_PER_PT, 2) for length in pattern]


def dashboard_config() -> dict[str, Any]:
    from core.table1 import (
        COLUMNS,
        PUBLISHED,
        STUDY_EPOCHS,
        TOLERANCE_POINTS,
        table1_configs,
    )

    return {
        "metrics": {
            name: {
                "label": info.label,
                "per": info.per,
                "unit": info.unit,
                "higher_is_better": info.higher_is_better,
                "log_y": info.log_y,
                "panel": info.panel,
                "curve_label": info.curve_label or name,
            }
            for name, info in METRICS.items()
        },
        "panels": {
            name: {
                "title": panel.title,
                "xlabel": panel.xlabel,
                "ylabel": panel.ylabel,
                "log_y": panel.log_y,
            }
            for name, panel in PANELS.items()
        },  # fmt: skip
        "optimizers": {
            name: {
                "label": OPTIMIZER_LABELS.get(name, name),
                "color": color,
                "dash": dash_px(dashes),
            }
            for name, (color, dashes) in OPTIMIZER_LINES.items()
        },
        "other_line": {"color": OTHER_LINE[0], "dash": dash_px(OTHER_LINE[1])},
        "shades": list(SHADES),
        "line_width_px": round(LINE_WIDTH_PT * PX_PER_PT, 2),
        "sort_keys": list(SORT_KEYS),
        "sort_metrics": list(SORT_METRICS),
        "train_sizes": {
            typing.get_args(variant.model_fields["name"].annotation)[0]: variant.train_size
            for variant in DATASET_VARIANTS
            if issubclass(variant, PublishedSplitsDataset)
        },
        "table1": {
            "columns": [
                {"model": model, "dropout": dropout, "title": title}
                for model, dropout, title in COLUMNS
            ],
            "published": {name: list(values) for name, values in PUBLISHED.items()},
            "tolerance_points": TOLERANCE_POINTS,
            "optimizers": list(PUBLISHED),
            "study_epochs": STUDY_EPOCHS,
            # The spec's model name of each of the table's short model keys (lr, mlp, cnn).
            "model_keys": {c.spec.model.name: c.model for c in table1_configs()},
        },
    }
