"""Table 1: the ten configurations (the command's run: tests/adamlab/test_reproduce_command.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from core.figure_style import OPTIMIZER_LINES, SHADES, shade
from core.metrics import MetricPoint
from core.plots import chart, drawing
from worker.reproduce import PUBLISHED, CellRun, table1_configs, table1_figures
from worker.run_result import RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def test_table1_has_the_ten_configurations_of_the_study() -> None:
    configs = table1_configs()
    assert len(configs) == 10
    assert len({c.key for c in configs}) == 10
    for config in configs:
        spec = config.spec
        assert spec.dataset.name == "mnist" and spec.dataset.batch_size == 128
        assert spec.dataset.train_limit is None and spec.dataset.test_limit is None
        assert spec.epochs == 20 and spec.l2 == 0.0
        assert spec.schedule.name == "inverse_sqrt"
        assert spec.optimizer.betas == (0.9, 0.999) and spec.optimizer.eps == 1e-8
        assert spec.optimizer.lr == {"adam": 1e-3, "adamax": 2e-3}[config.optimizer]
        assert spec.model.dropout == (0.5 if config.dropout else 0.0)
    lr_configs = [c for c in configs if c.model == "lr"]
    assert [c.dropout for c in lr_configs] == [False, False]
    assert {c.spec.model.name for c in configs} == {"logistic_regression", "mlp", "cnn"}
    assert all(len(row) == 5 for row in PUBLISHED.values())


def test_unknown_model_is_named() -> None:
    with pytest.raises(ValueError, match="rnn"):
        table1_configs(models=["rnn"])


def test_table1_figures_draw_each_optimizer_in_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adam solid and AdaMax dashed in their colours in all three figures; dropout and the
    models are shades and markers of that line."""
    drawn: dict[str, Figure] = {}
    real_render = drawing.render

    def capture(figure: chart.Chart, **kwargs: Any) -> bytes:
        drawn[figure.title] = drawing.draw(figure)
        return real_render(figure, **kwargs)

    monkeypatch.setattr(drawing, "render", capture)
    runs = []
    for config in table1_configs():
        points = [
            MetricPoint(name, 10 * epoch, value / epoch, epoch)
            for epoch in (1, 2)
            for name, value in (("train_loss", 0.5), ("test_acc", 0.9))
        ]
        result = RunResult(status="succeeded", final_metrics={}, error=None, device="cpu")
        runs.append(CellRun(config, result, points, 1.0))
    written = table1_figures(runs, tmp_path)
    assert sorted(path.name for path in written) == [
        "adam_vs_adamax.png", "dropout.png", "models.png",
    ]  # fmt: skip
    assert len(drawn) == 3
    for figure in drawn.values():
        lines = [line for axes in figure.axes for line in axes.get_lines()]
        assert lines
        for line in lines:
            label = str(line.get_label())
            optimizer = "adamax" if "AdaMax" in label else "adam"
            color, dashes = OPTIMIZER_LINES[optimizer]
            variants = {shade(color, amount) for amount in SHADES}
            assert line.get_linestyle() == dashes, label
            assert line.get_color() in variants, label
    first = drawn["Adam vs AdaMax per model (no dropout)"].axes[0]
    colors = {str(line.get_label()): line.get_color() for line in first.get_lines()}
    assert colors == {"Adam": OPTIMIZER_LINES["adam"][0], "AdaMax": OPTIMIZER_LINES["adamax"][0]}
