"""core/plots/: learning curves from plain points, without torch."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from core.figure_style import (
    OPTIMIZER_LINES,
    OTHER_LINE,
    SHADES,
    optimizer_line,
    plain_number,
    shade,
)
from core.metrics import MetricSeries
from core.plots.chart import Chart, Curve, Panel, series
from core.plots.comparison import ComparedRun, Pace, comparison_panels
from core.plots.drawing import draw, render_panels
from core.plots.run_chart import learning_curve_panels, learning_curves_png, run_chart
from core.plots.smoothing import ema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D


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
    code = (
        "import sys, core.plots.chart, core.plots.comparison, core.plots.drawing, "
        "core.plots.run_chart, core.plots.smoothing; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- the figure style ---------------------------------------------------------------------


def _run_curves(
    *, lr: list[float] | None = None, epochs: int = 2, steps_per_epoch: int = 5
) -> dict[str, MetricSeries]:
    steps = list(range(1, epochs * steps_per_epoch + 1))
    epoch_of = [1 + (s - 1) // steps_per_epoch for s in steps]
    numbers = list(range(1, epochs + 1))
    ends = [e * steps_per_epoch for e in numbers]
    return {
        "batch_loss": MetricSeries(steps, epoch_of, [2.0 / s for s in steps]),
        "lr": MetricSeries(steps, epoch_of, lr or [0.01] * len(steps)),
        "train_loss": MetricSeries(ends, numbers, [0.6 / e for e in numbers]),
        "test_loss": MetricSeries(ends, numbers, [0.7 / e for e in numbers]),
        "test_acc": MetricSeries(ends, numbers, [0.8 + 0.05 * e for e in numbers]),
    }


def _spec(optimizer: str = "adam", epochs: int = 2, schedule: str = "constant") -> dict:
    return {
        "name": f"digits-{optimizer}",
        "dataset": {"name": "digits", "batch_size": 32},
        "model": {"name": "logistic_regression"},
        "optimizer": {"name": optimizer, "lr": 0.01},
        "schedule": {"name": schedule},
        "epochs": epochs,
    }


def _lines(figure: Figure) -> dict[str, Line2D]:
    """Every drawn line by its gid (``curve:<panel>:<label>``)."""
    return {line.get_gid(): line for axes in figure.axes for line in axes.get_lines()}


def _axes(figure: Figure, title: str) -> Axes:
    return next(axes for axes in figure.axes if axes.get_title() == title)


def test_each_optimizer_has_one_colour_and_dash_pattern_in_every_figure() -> None:
    adam_color, adam_dashes = OPTIMIZER_LINES["adam"]
    adamax_color, adamax_dashes = OPTIMIZER_LINES["adamax"]
    assert (adam_dashes, adamax_dashes) == ("-", "--")  # solid Adam, dashed AdaMax
    for optimizer, color, dashes in (("adam", adam_color, "-"), ("adamax", adamax_color, "--")):
        lines = _lines(draw(run_chart(_run_curves(), spec=_spec(optimizer))))
        first = lines["curve:Training objective per iteration:batch loss"]
        train = lines["curve:Loss per epoch:train"]
        test = lines["curve:Loss per epoch:test"]
        assert (first.get_color(), first.get_linestyle()) == (color, dashes)
        assert (train.get_color(), train.get_linestyle()) == (color, dashes)
        # a second curve of the same optimizer: a shade of its colour, another marker
        assert test.get_color() == shade(color, SHADES[1]) != color
        assert test.get_linestyle() == dashes and test.get_marker() != train.get_marker()
    runs = [
        ComparedRun("b (2)", _run_curves(), "adamax", 0.002, Pace(160, 32)),
        ComparedRun("a (1)", _run_curves(), "adam", 0.001, Pace(160, 32)),
        ComparedRun("c (3)", _run_curves(), "adam", 0.01, Pace(160, 32)),
    ]
    lines = _lines(draw(Chart(comparison_panels(runs, ["test_acc"]), shared_legend=True)))
    assert lines["curve:test accuracy:b (2)"].get_color() == adamax_color
    assert lines["curve:test accuracy:b (2)"].get_linestyle() == "--"
    assert lines["curve:test accuracy:a (1)"].get_color() == adam_color
    assert lines["curve:test accuracy:c (3)"].get_color() == shade(adam_color, SHADES[1])
    assert lines["curve:test accuracy:c (3)"].get_linestyle() == "-"
    assert optimizer_line("no-such-optimizer").color == OTHER_LINE[0]


def test_log_axis_labels_are_plain_decimals() -> None:
    curve = Curve("loss", [1, 2, 3], [2.5, 0.6, 0.15], optimizer_line("adam"))
    figure = draw(Chart([Panel("Loss", "epoch", "loss", [curve], log_y=True)]))
    figure.canvas.draw()
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    labels = {t.get_text() for t in axes.get_yticklabels() + axes.get_yticklabels(minor=True)}
    labels.discard("")
    assert {"0.2", "0.6", "1", "2"} <= labels
    assert not any("10^" in label or "times" in label or "$" in label for label in labels)
    values = (0.2, 0.6, 2.0, 300.0, 1e-4)
    assert [plain_number(v) for v in values] == ["0.2", "0.6", "2", "300", "0.0001"]


@pytest.mark.parametrize("epochs", [1, 2, 3, 7])
def test_epoch_axes_have_integer_ticks(epochs: int) -> None:
    figure = draw(run_chart(_run_curves(epochs=epochs), spec=_spec(epochs=epochs)))
    figure.canvas.draw()
    for title in ("Loss per epoch", "Accuracy per epoch"):
        ticks = [t for t in _axes(figure, title).get_xticks() if 0.5 <= t <= epochs + 0.5]
        assert ticks and all(float(t).is_integer() for t in ticks), (title, ticks)


def test_constant_learning_rate_is_a_note_not_a_flat_panel() -> None:
    chart = run_chart(_run_curves(), spec=_spec())
    assert "Learning rate" not in [panel.title for panel in chart.panels]
    assert chart.notes == ["learning rate 0.01 throughout (constant)"]
    figure = draw(chart)
    assert figure.get_suptitle().splitlines()[-1] == "learning rate 0.01 throughout (constant)"
    scheduled = run_chart(_run_curves(lr=[0.01 / s for s in range(1, 11)]), spec=_spec())
    assert "Learning rate" in [panel.title for panel in scheduled.panels]
    assert scheduled.notes == []


def test_a_flat_line_gets_a_readable_axis() -> None:
    curve = Curve("lr", [1, 2, 3], [0.01, 0.01, 0.01])
    axes = draw(Chart([Panel("Learning rate", "iteration", "lr", [curve])])).axes[0]
    assert axes.get_ylim() == (0.0, 0.02)


def test_title_of_a_stopped_run_says_how_far_it_got() -> None:
    spec = _spec(epochs=12)
    whole = _run_curves(epochs=12)
    assert run_chart(whole, spec=spec, status="succeeded").title.endswith("(lr 0.01), 12 epochs")
    # cancelled inside epoch 5: per-iteration points of epoch 5, per-epoch ones up to 4
    cut = {
        name: MetricSeries(
            [s for s in curve.steps if s <= 23],
            [e for s, e in zip(curve.steps, curve.epochs, strict=True) if s <= 23],
            [v for s, v in zip(curve.steps, curve.values, strict=True) if s <= 23],
        )
        for name, curve in whole.items()
    }
    cancelled = run_chart(cut, spec=spec, status="cancelled")
    assert cancelled.title == (
        "digits-adam: digits, logistic_regression, adam (lr 0.01), cancelled in epoch 5 of 12"
    )
    assert "12 epochs" not in cancelled.title
    failed = run_chart(_run_curves(epochs=4), spec=spec, status="failed")
    assert failed.title.endswith("failed after epoch 4 of 12")
    running = run_chart(cut, spec=spec, status="running")
    assert running.title.endswith("running, in epoch 5 of 12")


def test_ema_is_bias_corrected_and_keeps_gaps() -> None:
    assert ema([1.0, 2.0, None, 3.0], 0.0) == [1.0, 2.0, None, 3.0]
    smoothed = ema([4.0, 4.0, math.nan, 4.0, 0.0], 0.5)
    assert smoothed[:4] == [4.0, 4.0, None, 4.0]  # no pull towards 0 at the start
    assert smoothed[4] == pytest.approx(4.0 * 0.5 * 0.875 / (1 - 0.5**4))
    for factor in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="smoothing"):
            ema([1.0], factor)


def test_smoothing_draws_the_ema_over_the_faint_values_with_its_factor_in_the_legend() -> None:
    figure = draw(run_chart(_run_curves(), spec=_spec(), smoothing=0.9))
    axes = _axes(figure, "Training objective per iteration")
    legend = axes.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["batch loss", "batch loss (EMA 0.9)"]
    lines = _lines(figure)
    raw = lines["curve:Training objective per iteration:batch loss"]
    mean = lines["curve:Training objective per iteration:batch loss (EMA 0.9)"]
    assert (raw.get_alpha() or 1.0) < 0.5 and mean.get_alpha() == 1.0
    assert list(mean.get_ydata()) == pytest.approx(ema([2.0 / s for s in range(1, 11)], 0.9))
    # per-epoch curves are never smoothed
    assert "curve:Loss per epoch:train (EMA 0.9)" not in lines
    with pytest.raises(ValueError, match="smoothing"):
        run_chart(_run_curves(), spec=_spec(), smoothing=1.0)


def test_compare_legend_names_optimizer_and_lr_and_the_batch_size_where_they_differ() -> None:
    runs = [
        ComparedRun("a (1)", _run_curves(), "adam", 0.001, Pace(160, 32)),
        ComparedRun("b (2)", _run_curves(), "adamax", 0.002, Pace(160, 32)),
    ]
    figure = draw(Chart(comparison_panels(runs, ["test_acc"]), shared_legend=True))
    texts = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert texts == ["a (1): Adam, lr 0.001", "b (2): AdaMax, lr 0.002"]
    assert all(axes.get_legend() is None for axes in figure.axes)  # one legend, under the panels
    runs[1] = ComparedRun("b (2)", _run_curves(), "adamax", 0.002, Pace(160, 8))
    panels = comparison_panels(runs, ["batch_loss"], smoothing=0.9)
    assert panels[0].title == "training objective per iteration (EMA 0.9)"
    legends = [curve.legend for curve in panels[0].curves]
    assert legends == [
        "",  # the faint raw values are not in the legend
        "a (1): Adam, lr 0.001, batch 32",
        "",
        "b (2): AdaMax, lr 0.002, batch 8",
    ]


def test_compare_x_axis_is_the_epoch_when_batch_sizes_differ() -> None:
    curves = {"batch_loss": MetricSeries([1, 2, 5, 10], [1, 1, 1, 2], [1.0, 0.9, 0.8, 0.7])}
    small, large = Pace(100, 10), Pace(100, 50)
    same = [ComparedRun("a", curves, "adam", 0.1, small), ComparedRun("b", curves, "sgd", 1, small)]
    assert comparison_panels(same, ["batch_loss"])[0].xlabel == "iteration"
    mixed = [
        ComparedRun("a", curves, "adam", 0.1, small),
        ComparedRun("b", curves, "sgd", 1, large),
    ]
    (panel,) = comparison_panels(mixed, ["batch_loss"])
    assert panel.xlabel == "epoch"
    assert [list(curve.xs) for curve in panel.curves] == [
        [0.1, 0.2, 0.5, 1.0],
        [0.5, 1.0, 2.5, 5.0],
    ]
    (panel,) = comparison_panels(mixed, ["batch_loss"], x="examples")
    assert panel.xlabel == "examples seen"
    assert [list(curve.xs) for curve in panel.curves] == [[10, 20, 50, 100], [50, 100, 250, 500]]
    (panel,) = comparison_panels(mixed, ["batch_loss"], x="iteration")
    assert panel.xlabel == "iteration" and list(panel.curves[1].xs) == [1, 2, 5, 10]
    with pytest.raises(ValueError, match="x must be one of"):
        comparison_panels(mixed, ["batch_loss"], x="time")  # type: ignore[arg-type]


def test_pace_counts_a_smaller_last_batch() -> None:
    pace = Pace(train_examples=100, batch_size=32)  # 4 iterations an epoch: 32, 32, 32, 4
    assert pace.steps_per_epoch == 4
    assert [pace.examples_at(s) for s in (1, 3, 4, 5, 8)] == [32, 96, 100, 132, 200]
    assert pace.epoch_at(6) == 1.5
    assert Pace.of_spec(_spec()) == Pace(train_examples=898, batch_size=32)


def test_a_panel_without_points_says_so_and_shows_no_empty_axes() -> None:
    empty = Panel("test accuracy", "epoch", "test_acc", [])
    full = Panel("loss", "epoch", "loss", [Curve("a", [1, 2], [1.0, 0.5])])
    with pytest.raises(ValueError, match="nothing to plot"):
        draw(Chart([empty]))
    figure = draw(Chart([full, empty]))
    axes = _axes(figure, "test accuracy")
    assert [t.get_text() for t in axes.texts] == ["no points yet"]
    assert list(axes.get_xticks()) == [] and list(axes.get_yticks()) == []
    assert axes.get_lines() == []
