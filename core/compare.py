"""Several experiments side by side: each run's spec essentials and final metrics, the
best run of each summary metric (``core.metrics.METRICS``' ``higher_is_better``), and the
summary as a Markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.metrics import METRICS, summary_metrics
from core.store.models import ExperimentRow

MAX_COMPARED = 20
"""The most experiments one comparison takes."""


@dataclass(frozen=True, slots=True)
class ComparedRun:
    """One experiment of a comparison."""

    id: str
    name: str
    status: str
    dataset: str
    model: str
    dropout: float
    optimizer: str
    lr: float
    schedule: str
    epochs: int
    seed: int
    final_metrics: dict[str, float | None] | None
    error: str | None

    @classmethod
    def from_row(cls, experiment: ExperimentRow) -> ComparedRun:
        spec = experiment.spec
        return cls(
            id=experiment.id,
            name=experiment.name,
            status=experiment.status,
            dataset=spec["dataset"]["name"],
            model=spec["model"]["name"],
            dropout=spec["model"].get("dropout") or 0.0,
            optimizer=spec["optimizer"]["name"],
            lr=spec["optimizer"]["lr"],
            schedule=(spec.get("schedule") or {}).get("name", "constant"),
            epochs=spec["epochs"],
            seed=spec["seed"],
            final_metrics=experiment.final_metrics,
            error=experiment.error,
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    experiments: list[ComparedRun]
    """In the order asked for."""
    metrics: list[str]
    """The summary's metric columns: those of ``summary_metrics()`` some run has."""
    best: dict[str, str]
    """For each summary metric, the id of the run with the best final value."""
    table: str
    """The summary as a Markdown table."""


def compare(experiments: Sequence[ExperimentRow]) -> Comparison:
    """The comparison of ``experiments``, in their order."""
    runs = [ComparedRun.from_row(experiment) for experiment in experiments]
    present = {name for run in runs for name in (run.final_metrics or {})}
    metrics = [metric for metric in summary_metrics() if metric in present]
    return Comparison(
        experiments=runs,
        metrics=metrics,
        best=best_runs(runs, metrics),
        table=markdown_table(runs, metrics),
    )


def best_runs(runs: Sequence[ComparedRun], metrics: Sequence[str]) -> dict[str, str]:
    """For each metric some run has a final value of, the id of the best such run: the
    highest where the registry says higher is better, else the lowest."""
    best: dict[str, str] = {}
    for metric in metrics:
        scored = [
            (value, run.id)
            for run in runs
            if (value := (run.final_metrics or {}).get(metric)) is not None
        ]
        if scored:
            pick = max if METRICS[metric].higher_is_better else min
            best[metric] = pick(scored, key=lambda item: item[0])[1]
    return best


def markdown_table(runs: Sequence[ComparedRun], metrics: Sequence[str]) -> str:
    """One row per run: id, name, status, spec essentials, then each metric's final value
    (4 decimals; ``-`` where the run has none)."""
    header = ["id", "name", "status", "dataset", "model", "optimizer", "lr", "epochs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        model = run.model + (f" (dropout {run.dropout:g})" if run.dropout else "")
        values = [(run.final_metrics or {}).get(metric) for metric in metrics]
        cells = [run.id, run.name, run.status, run.dataset, model, run.optimizer,
                 f"{run.lr:g}", str(run.epochs),
                 *("-" if value is None else f"{value:.4f}" for value in values)]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
