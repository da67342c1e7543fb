"""Optimizers from their spec: adamlab's Adam, AdaMax and AdamW, torch.optim's baselines.

Every optimizer is built with the spec's own hyperparameters: a variant's fields are its
constructor's keyword arguments, so ``OPTIMIZER_CLASSES`` is all there is to the mapping.
The engine then overwrites ``lr`` in each parameter group at every iteration from the
schedule, so the spec's ``lr`` is the schedule's base rate α.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from core.spec import OptimizerVariant
from optim import Adam, AdaMax, AdamW

OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {
    "adam": Adam,
    "adamax": AdaMax,
    "adamw": AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
}
"""The class each optimizer variant names, by the variant's ``name``."""


def build_optimizer(
    spec: OptimizerVariant, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """The optimizer that ``spec`` names, over ``params``."""
    hyperparameters = spec.model_dump(exclude={"name"})
    return OPTIMIZER_CLASSES[spec.name](list(params), **hyperparameters)
