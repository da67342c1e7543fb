"""The limits a spec must stay within, one per quantity of ``core/cost_estimate.py``
(``CostLimits``, from the settings ``ADAMLAB_MAX_PARAMETERS``,
``ADAMLAB_MAX_RUN_MEMORY_BYTES``, ``ADAMLAB_MAX_STEPS``, ``ADAMLAB_MAX_STORED_POINTS``),
and the check against them: ``cost_problems`` names the field to change for each one
exceeded, ``check_cost`` raises ``CostLimitError`` (the API's 422)."""

from __future__ import annotations

from dataclasses import dataclass

from core.cost_estimate import POINTS_PER_STEP, estimate_cost
from core.spec import ExperimentSpec


@dataclass(frozen=True)
class CostLimits:
    """The most a spec may ask for; each is a setting (``core/settings.py``)."""

    parameters: int
    memory_bytes: int
    steps: int
    stored_points: int

    @classmethod
    def from_settings(cls) -> CostLimits:
        """The limits of this process's settings, read now."""
        from core.settings import settings

        return cls(
            parameters=settings.max_parameters,
            memory_bytes=settings.max_run_memory_bytes,
            steps=settings.max_steps,
            stored_points=settings.max_stored_points,
        )


@dataclass(frozen=True)
class LimitInfo:
    """One limit as the catalog and the docs describe it."""

    name: str
    setting: str
    unit: str
    description: str


LIMITS: dict[str, LimitInfo] = {
    "parameters": LimitInfo(
        "parameters", "ADAMLAB_MAX_PARAMETERS", "parameters",
        "Parameters of the model (weights and biases); reported on the model's size "
        "field (model.hidden_sizes, model.channels or model.hidden_size).",
    ),
    "memory_bytes": LimitInfo(
        "memory_bytes", "ADAMLAB_MAX_RUN_MEMORY_BYTES", "bytes",
        "Estimated memory of the run: weights, gradients and optimizer state, activations "
        "at the batch size (or of the evaluation pass, whichever is larger) and the data; "
        "reported on dataset.batch_size when the training activations dominate, else on "
        "the model's size field.",
    ),
    "steps": LimitInfo(
        "steps", "ADAMLAB_MAX_STEPS", "iterations",
        "Iterations of the run, epochs × ⌈training examples / batch size⌉; reported on "
        "epochs.",
    ),
    "stored_points": LimitInfo(
        "stored_points", "ADAMLAB_MAX_STORED_POINTS", "metric points",
        "Metric points the run writes to the store: 2 per iteration (batch_loss, lr) and "
        "6 to 8 per epoch; reported on epochs.",
    ),
}  # fmt: skip
"""Every limit, by its ``CostLimits`` field name."""


@dataclass(frozen=True)
class CostProblem:
    """One limit a spec exceeds: the field to change (dotted, as a client writes it), the
    limit's name in ``LIMITS`` and a sentence with the estimate and the limit."""

    field: str
    limit: str
    message: str


class CostLimitError(ValueError):
    """A spec exceeds one or more limits; ``problems`` says which."""

    def __init__(self, problems: list[CostProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def cost_problems(spec: ExperimentSpec, limits: CostLimits) -> list[CostProblem]:
    """Every limit ``spec`` exceeds, in the order of ``LIMITS``; empty when it fits."""
    cost = estimate_cost(spec)
    problems: list[CostProblem] = []
    if cost.parameters > limits.parameters:
        problems.append(
            CostProblem(
                cost.size_field,
                "parameters",
                f"the model has {cost.parameters:,} parameters; the limit is "
                f"{limits.parameters:,} ({LIMITS['parameters'].setting})",
            )
        )
    if cost.memory_bytes > limits.memory_bytes:
        by_batch = cost.training_activation_bytes >= max(
            cost.parameter_bytes, cost.evaluation_activation_bytes, cost.data_bytes
        )
        problems.append(
            CostProblem(
                "dataset.batch_size" if by_batch else cost.size_field,
                "memory_bytes",
                f"the run needs about {_gib(cost.memory_bytes)} (weights, gradients and "
                f"optimizer state {_gib(cost.parameter_bytes)}, activations at batch "
                f"{cost.batch_size} {_gib(cost.training_activation_bytes)}, of the "
                f"evaluation pass {_gib(cost.evaluation_activation_bytes)}, data "
                f"{_gib(cost.data_bytes)}); the limit is {_gib(limits.memory_bytes)} "
                f"({LIMITS['memory_bytes'].setting}={limits.memory_bytes})",
            )
        )
    if cost.steps > limits.steps:
        problems.append(
            CostProblem(
                "epochs",
                "steps",
                f"the run takes {cost.steps:,} iterations ({spec.epochs:,} epochs of "
                f"{cost.steps_per_epoch:,} at batch size {spec.dataset.batch_size}); the "
                f"limit is {limits.steps:,} ({LIMITS['steps'].setting})",
            )
        )
    if cost.stored_points > limits.stored_points:
        problems.append(
            CostProblem(
                "epochs",
                "stored_points",
                f"the run stores {cost.stored_points:,} metric points ({POINTS_PER_STEP} per "
                f"iteration, {cost.points_per_epoch} per epoch); the limit is "
                f"{limits.stored_points:,} ({LIMITS['stored_points'].setting})",
            )
        )
    return problems


def check_cost(spec: ExperimentSpec, limits: CostLimits) -> None:
    """Raise ``CostLimitError`` when ``spec`` exceeds a limit."""
    problems = cost_problems(spec, limits)
    if problems:
        raise CostLimitError(problems)


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB"
