"""The vocabulary of metrics and progress, shared by the engine, the sinks, the store, the
plots and the comparison (no torch, no database).

- ``MetricPoint``: one measured value at one global step.
- ``MetricSeries``: one metric's points as parallel lists, ordered by step.
- ``Progress``: where a run stands.
- ``METRICS``: the registry of every metric the engine writes, one ``MetricInfo`` each
  (label, unit, higher-is-better, plot panel, summary column). Adding a metric is one entry
  here and the line of ``worker/engine.py`` that measures it; plots, the compare summary
  and the API's list of known metrics read this table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# --- points, series, progress ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One measured value.

    ``step`` is the global iteration count (1-based) at which it was measured; per-epoch
    metrics carry the step of the epoch's last iteration. ``epoch`` is 1-based. A resumed
    run writes again the points after its checkpoint with identical values, so
    ``(name, step)`` identifies a point within an experiment. A point read back from the
    store has ``value`` None where the measured value was not finite.
    """

    name: str
    step: int
    value: float | None
    epoch: int


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric's points as parallel lists, ordered by step; a value is None where the
    measured value was not finite."""

    steps: Sequence[int]
    epochs: Sequence[int]
    values: Sequence[float | None]

    def __len__(self) -> int:
        return len(self.steps)

    def take(self, indices: Sequence[int]) -> MetricSeries:
        """The points at ``indices`` (in the order given)."""
        return MetricSeries(
            steps=[self.steps[i] for i in indices],
            epochs=[self.epochs[i] for i in indices],
            values=[self.values[i] for i in indices],
        )

    def xs(self, by: str) -> Sequence[int]:
        """The x values of a plot by ``"epoch"`` or by ``"step"``."""
        return self.epochs if by == "epoch" else self.steps


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run stands. The engine passes one to ``on_progress`` every ``log_every``
    iterations and at every epoch's end; the store keeps the latest of each running job.
    ``step`` counts completed iterations, ``fraction`` is in [0, 1], ``eta_s`` extrapolates
    the worker's own speed (None before its first iteration), ``elapsed_s`` is this
    process's time on the run and ``device`` where it runs (known to the worker, not the
    engine). A field is None where it is not known."""

    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    total_steps: int | None = None
    fraction: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    device: str | None = None


def finite_or_none(value: float | None) -> float | None:
    """``value``, or None where it is missing, NaN or ±inf (JSON has no word for those)."""
    return value if value is not None and math.isfinite(value) else None


# --- the registry ---------------------------------------------------------------------------

PanelName = Literal["batch_loss", "lr", "loss", "accuracy", "line"]


@dataclass(frozen=True, slots=True)
class PanelInfo:
    """One panel of a run's learning-curve figure."""

    title: str
    xlabel: Literal["iteration", "epoch"]
    ylabel: str
    log_y: bool = False


PANELS: dict[PanelName, PanelInfo] = {
    "batch_loss": PanelInfo("Training objective per iteration", "iteration", "batch loss", True),
    "lr": PanelInfo("Learning rate", "iteration", "lr"),
    "loss": PanelInfo("Loss per epoch", "epoch", "loss", True),
    "accuracy": PanelInfo("Accuracy per epoch", "epoch", "accuracy"),
    "line": PanelInfo("Fitted line", "epoch", "value"),
}
"""The panels of ``core.plots.run_chart.learning_curve_panels``, in drawing order."""


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is and how it is shown.

    ``label`` names it on an axis or a comparison panel; ``per`` says whether it is
    measured per iteration (x = the global step) or per epoch (x = the epoch);
    ``higher_is_better`` picks the best run in a comparison (None: neither, never ranked);
    ``panel`` and ``curve_label`` place it in a run's learning-curve figure (None: not
    drawn there); ``summary_column`` is its position among the compare summary's columns
    (None: not a column)."""

    label: str
    per: Literal["iteration", "epoch"]
    unit: str = ""
    higher_is_better: bool | None = None
    log_y: bool = False
    panel: PanelName | None = None
    curve_label: str = ""
    summary_column: int | None = None


def _loss(label: str, curve_label: str, column: int | None = None) -> MetricInfo:
    return MetricInfo(label, "epoch", higher_is_better=False, log_y=True, panel="loss",
                      curve_label=curve_label, summary_column=column)  # fmt: skip


def _accuracy(label: str, curve_label: str, column: int) -> MetricInfo:
    return MetricInfo(label, "epoch", unit="fraction", higher_is_better=True,
                      panel="accuracy", curve_label=curve_label, summary_column=column)  # fmt: skip


METRICS: dict[str, MetricInfo] = {
    "batch_loss": MetricInfo("training objective per iteration", "iteration",
                             higher_is_better=False, log_y=True, panel="batch_loss",
                             curve_label="batch loss"),
    "lr": MetricInfo("learning rate", "iteration", panel="lr", curve_label="lr"),
    "train_loss": _loss("training loss", "train", column=3),
    "train_acc": _accuracy("training accuracy", "train", column=2),
    "val_loss": _loss("validation loss", "validation", column=5),
    "val_acc": _accuracy("validation accuracy", "validation", column=4),
    "test_loss": _loss("test loss", "test", column=1),
    "test_acc": _accuracy("test accuracy", "test", column=0),
    "train_mse": _loss("training MSE", "train MSE", column=6),
    "val_mse": _loss("validation MSE", "validation MSE"),
    "test_mse": _loss("test MSE", "test MSE", column=7),
    "w": MetricInfo("fitted w", "epoch", panel="line", curve_label="w"),
    "b": MetricInfo("fitted b", "epoch", panel="line", curve_label="b"),
    "epoch_time_s": MetricInfo("epoch wall time (s)", "epoch", unit="s",
                               higher_is_better=False),
    "examples_per_s": MetricInfo("training examples per second", "epoch",
                                 unit="examples/s", higher_is_better=True),
    # The playground's test problems (worker/playground.py), after each step:
    "x": MetricInfo("position x", "iteration", curve_label="x"),
    "y": MetricInfo("position y", "iteration", curve_label="y"),
    "f": MetricInfo("objective f", "iteration", higher_is_better=False, curve_label="f"),
    "grad_norm": MetricInfo("gradient norm", "iteration", log_y=True,
                            curve_label="gradient norm"),
    "step_x": MetricInfo("step in x (parameter change)", "iteration", curve_label="step x"),
    "step_y": MetricInfo("step in y (parameter change)", "iteration", curve_label="step y"),
    "distance": MetricInfo("distance to the nearest minimum", "epoch", higher_is_better=False,
                           log_y=True, panel="loss", curve_label="distance to minimum",
                           summary_column=8),
    "suboptimality": MetricInfo("suboptimality f − f*", "epoch", higher_is_better=False,
                                log_y=True, panel="loss", curve_label="f − f*",
                                summary_column=9),
}  # fmt: skip
"""Every metric the engine writes (``worker/engine.py``), by name, in display order."""


def summary_metrics() -> list[str]:
    """The compare summary's metric columns, in column order."""
    columns = [(info.summary_column, name) for name, info in METRICS.items()]
    return [name for _column, name in sorted(c for c in columns if c[0] is not None)]


def panel_metrics(panel: PanelName) -> list[str]:
    """The metrics drawn in ``panel``, in registry order."""
    return [name for name, info in METRICS.items() if info.panel == panel]
