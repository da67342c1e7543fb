"""Whether sweep members can train as one stack (``worker/batched.py``): what they must
share, checked field by field, the first difference named."""

from __future__ import annotations

from collections.abc import Sequence

from core.spec import ExperimentSpec
from core.sweeps.grouping import GROUPABLE_OPTIMIZERS


class GroupError(ValueError):
    """Specs that cannot train as one group; the message says which field differs."""


def group_problem(specs: Sequence[ExperimentSpec]) -> str | None:
    """Why ``specs`` cannot train as one group, or None when they can."""
    if not specs:
        return "a group needs at least one member"
    first = specs[0]
    shared = {
        "dataset": lambda s: s.dataset,
        "model": lambda s: s.model.model_copy(update={"dropout": 0.0}),
        "epochs": lambda s: s.epochs,
        "schedule.name": lambda s: s.schedule.name,
        "optimizer.name": lambda s: s.optimizer.name,
        "optimizer.amsgrad": lambda s: getattr(s.optimizer, "amsgrad", False),
        "optimizer.bias_correction": lambda s: getattr(s.optimizer, "bias_correction", True),
        "optimizer.nesterov": lambda s: getattr(s.optimizer, "nesterov", False),
        "device": lambda s: s.device,
    }
    for field_name, read in shared.items():
        if any(read(s) != read(first) for s in specs):
            return f"the members differ in {field_name}; a group shares it"
    if first.optimizer.name not in GROUPABLE_OPTIMIZERS:
        name = first.optimizer.name
        return f"optimizer {name!r} has no batched step (one of {', '.join(GROUPABLE_OPTIMIZERS)})"
    return None
