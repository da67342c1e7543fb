"""How a run ended (``RunResult``), what ``worker.engine.run_experiment`` returns and the
Celery task, ``adamlab train`` and the Table 1 reproduction read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``final_metrics`` are the last completed epoch's metrics."""

    status: Literal["succeeded", "failed", "cancelled", "stopped"]
    final_metrics: dict[str, float]
    error: str | None
    device: str
    epochs_completed: int = 0
    steps_completed: int = 0
    resumed_from_epoch: int = 0
    metadata: dict[str, float | int | str] = field(default_factory=dict)
    stop_reason: str | None = None
    """Why ``after_epoch`` stopped the run early (status ``stopped``)."""


def run_metadata(
    model: nn.Module, *, steps_per_epoch: int, train_examples: int
) -> dict[str, float | int | str]:
    """A run's ``RunResult.metadata``: its iterations per epoch, training examples and the
    model's parameter count."""
    return {
        "steps_per_epoch": steps_per_epoch,
        "train_examples": train_examples,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
