"""The study's Table 1 run on this machine: the ten configurations of ``core/table1.py``
(where the study's settings and our choices are written down) through the engine, their
outputs, the table beside the published numbers, and the study's figures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from core.figure_style import optimizer_line
from core.metrics import Progress
from core.plots.chart import Curve, Panel, series
from core.plots.drawing import render_panels, write_png
from core.spec import ExperimentSpec
from core.table1 import (
    BATCH_SIZE,
    COLUMNS,
    DROPOUT_RATE,
    LEARNING_RATES,
    MODELS,
    OPTIMIZER_LABELS,
    OPTIMIZERS,
    PUBLISHED,
    STUDY_EPOCHS,
    TOLERANCE_POINTS,
    CellOutcome,
    Config,
    is_study_setting,
    table1_configs,
)
from core.table1 import table1_markdown as _outcomes_markdown
from worker.engine import run_experiment
from worker.outputs import SavedRun, read_run, write_run
from worker.run_result import RunResult
from worker.sinks import ListSink

__all__ = [
    "BATCH_SIZE", "COLUMNS", "DROPOUT_RATE", "LEARNING_RATES", "MODELS", "OPTIMIZER_LABELS",
    "OPTIMIZERS", "PUBLISHED", "STUDY_EPOCHS", "TOLERANCE_POINTS", "CellRun", "Config",
    "is_study_setting", "run_configs", "table1_configs", "table1_figures", "table1_markdown",
    "write_summary",
]  # fmt: skip


@dataclass(frozen=True)
class CellRun:
    config: Config
    result: RunResult
    points: list
    seconds: float

    @property
    def test_accuracy(self) -> float | None:
        if self.result.status != "succeeded":
            return None
        return self.result.final_metrics.get("test_acc")

    def outcome(self) -> CellOutcome:
        train_examples = self.result.metadata.get("train_examples")
        return CellOutcome(
            config=self.config,
            status=self.result.status,
            test_accuracy=self.test_accuracy,
            epochs_completed=self.result.epochs_completed,
            device=self.result.device,
            seconds=self.seconds,
            train_examples=int(train_examples) if train_examples is not None else None,
        )


def run_configs(
    configs: Sequence[Config],
    out: Path,
    *,
    on_progress: Callable[[Config, Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[CellRun]:
    """Run each configuration with its outputs in ``out/<key>/``. A configuration already
    finished there with the same spec is read back, not run again; an interrupted one
    resumes from its last checkpoint."""
    runs = []
    for config in configs:
        folder = out / config.key
        saved = read_run(folder)
        if saved is not None and _finished(saved, config.spec):
            runs.append(CellRun(config, saved.result, saved.points, _seconds(saved.points)))
            continue
        sink = ListSink()
        if saved is not None and (folder / "checkpoints").exists():
            sink.write(saved.points)
        started = time.perf_counter()
        result = run_experiment(
            config.spec,
            sink=sink,
            checkpoint_dir=folder / "checkpoints",
            should_stop=should_stop,
            on_progress=(lambda p, c=config: on_progress(c, p)) if on_progress else None,
        )
        write_run(folder, config.spec, result, sink.points)
        runs.append(CellRun(config, result, sink.points, time.perf_counter() - started))
        if result.status == "cancelled":
            break
    return runs


def _finished(saved: SavedRun, spec: ExperimentSpec) -> bool:
    return saved.result.status == "succeeded" and saved.spec == spec


def _seconds(points: list) -> float:
    return sum(p.value for p in points if p.name == "epoch_time_s")


def table1_markdown(runs: Sequence[CellRun], *, machine: str) -> str:
    """The table of local runs (``core.table1.table1_markdown``), with torch's version."""
    return _outcomes_markdown(
        [run.outcome() for run in runs], machine=f"{machine}; torch {torch.__version__}"
    )


def table1_figures(runs: Sequence[CellRun], out: Path) -> list[Path]:
    """PNG figures: Adam vs AdaMax per model, dropout vs none, LR vs NN vs CNN. Each
    optimizer keeps its line of ``core.figure_style`` (Adam solid, AdaMax dashed); the
    dropout runs and the models are that line's variants (shade and marker)."""
    by_key = {(r.config.optimizer, r.config.model, r.config.dropout): r for r in runs}
    written = []
    model_labels = {"lr": "LR", "mlp": "NN", "cnn": "CNN"}
    models_run = [m for m in MODELS if any(r.config.model == m for r in runs)]

    def curves(metric: str, entries: list[tuple[str, tuple[str, str, bool], int]]) -> list[Curve]:
        found = []
        for label, key, variant in entries:
            run = by_key.get(key)
            if run is not None:
                xs, ys = series(run.points, metric, by="epoch")
                if xs:
                    found.append(Curve(label, xs, ys, optimizer_line(key[0], variant)))
        return found

    def save(name: str, panels: list[Panel], title: str, columns: int) -> None:
        panels = [p for p in panels if p.curves]
        if panels:
            png = render_panels(panels, title=title, columns=columns)
            path = write_png(png, out / name)
            written.append(path)

    panels = []
    for metric, ylabel, log_y in (("train_loss", "training loss", True),
                                  ("test_acc", "test accuracy", False)):  # fmt: skip
        for model in models_run:
            entries = [(OPTIMIZER_LABELS[o], (o, model, False), 0) for o in OPTIMIZERS]
            panels.append(
                Panel(
                    f"{model_labels[model]}: {ylabel}",
                    "epoch",
                    ylabel,
                    curves(metric, entries),
                    log_y,
                )  # fmt: skip
            )
    save(
        "adam_vs_adamax.png", panels, "Adam vs AdaMax per model (no dropout)",
        columns=max(1, len(models_run)),
    )  # fmt: skip

    panels = []
    for metric, ylabel, log_y in (("train_loss", "training loss", True),
                                  ("test_acc", "test accuracy", False)):  # fmt: skip
        for model in ("mlp", "cnn"):
            entries = [
                (f"{OPTIMIZER_LABELS[o]}{', dropout 0.5' if d else ''}", (o, model, d), int(d))
                for o in OPTIMIZERS for d in (False, True)
            ]  # fmt: skip
            panels.append(
                Panel(
                    f"{model_labels[model]}: {ylabel}",
                    "epoch",
                    ylabel,
                    curves(metric, entries),
                    log_y,
                )  # fmt: skip
            )
    save("dropout.png", panels, "Dropout vs none", columns=2)

    panels = []
    for metric, ylabel, log_y in (("train_loss", "training loss", True),
                                  ("test_acc", "test accuracy", False)):  # fmt: skip
        entries = [
            (f"{model_labels[m]}, {OPTIMIZER_LABELS[o]}", (o, m, False), index)
            for index, m in enumerate(MODELS) for o in OPTIMIZERS
        ]  # fmt: skip
        panels.append(Panel(ylabel, "epoch", ylabel, curves(metric, entries), log_y))
    save("models.png", panels, "LR vs NN vs CNN (no dropout)", columns=2)
    return written


def write_summary(runs: Sequence[CellRun], out: Path) -> Path:
    """A machine-readable summary: each configuration's final metrics."""
    summary = {
        r.config.key: {
            "status": r.result.status,
            "seed": r.config.spec.seed,
            "epochs": r.config.spec.epochs,
            "final_metrics": r.result.final_metrics,
            "error": r.result.error,
        }
        for r in runs
    }
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=1))
    return path
