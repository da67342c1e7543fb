"""core/plots.py: learning curves from plain points, without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.plots import (
    Curve,
    Panel,
    learning_curve_panels,
    learning_curves_png,
    render_panels,
    series,
)


def _points() -> list[dict]:
    points = [{"name": "batch_loss", "step": s, "value": 2.0 / s, "epoch": 1 + (s - 1) // 5}
              for s in range(1, 11)]  # fmt: skip
    points += [{"name": "lr", "step": s, "value": 0.001, "epoch": 1 + (s - 1) // 5}
               for s in range(1, 11)]  # fmt: skip
    for epoch, step in ((1, 5), (2, 10)):
        points += [
            {"name": "train_loss", "step": step, "value": 1.0 / epoch, "epoch": epoch},
            {"name": "test_acc", "step": step, "value": 0.5 + 0.2 * epoch, "epoch": epoch},
        ]
    return points


def test_series_orders_by_step_or_epoch() -> None:
    shuffled = list(reversed(_points()))
    assert series(shuffled, "train_loss", by="epoch") == ([1, 2], [1.0, 0.5])
    assert series(shuffled, "batch_loss")[0] == list(range(1, 11))


def test_panels_leave_out_metrics_a_run_did_not_log() -> None:
    panels = learning_curve_panels(_points())
    titles = [panel.title for panel in panels]
    assert titles == ["Training objective per iteration", "Learning rate", "Loss per epoch",
                      "Accuracy per epoch"]  # fmt: skip
    accuracy = panels[-1]
    assert [curve.label for curve in accuracy.curves] == ["test"]


def test_learning_curves_png_is_a_png() -> None:
    assert learning_curves_png(_points(), title="run").startswith(b"\x89PNG\r\n\x1a\n")


def test_render_without_curves_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        render_panels([])
    png = render_panels([Panel("t", "epoch", "y", [Curve("a", [1, 2], [0.0, -1.0])], log_y=True)])
    assert png.startswith(b"\x89PNG")  # a non-positive curve falls back to a linear axis


def test_importing_plots_does_not_load_torch_or_matplotlib() -> None:
    code = "import sys, core.plots; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
