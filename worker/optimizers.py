"""Optimizers from their spec: adamlab's Adam, AdaMax and AdamW, torch.optim's baselines.

Every optimizer is built with the spec's own hyperparameters; the engine then overwrites
``lr`` in each parameter group at every iteration from the schedule, so the spec's ``lr``
is the schedule's base rate α.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from core.spec import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamaxOptimizer,
    AdamOptimizer,
    AdamwOptimizer,
    RmspropOptimizer,
    SgdOptimizer,
)
from optim import Adam, AdaMax, AdamW

OptimizerSpec = (
    AdamOptimizer
    | AdamaxOptimizer
    | AdamwOptimizer
    | SgdOptimizer
    | RmspropOptimizer
    | AdagradOptimizer
    | AdadeltaOptimizer
)


def build_optimizer(
    spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """The optimizer that ``spec`` names, over ``params``."""
    params = list(params)
    if isinstance(spec, AdamOptimizer):
        return Adam(
            params,
            lr=spec.lr,
            betas=spec.betas,
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            amsgrad=spec.amsgrad,
            bias_correction=spec.bias_correction,
        )
    if isinstance(spec, AdamaxOptimizer):
        return AdaMax(
            params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
        )
    if isinstance(spec, AdamwOptimizer):
        return AdamW(
            params,
            lr=spec.lr,
            betas=spec.betas,
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            amsgrad=spec.amsgrad,
        )
    if isinstance(spec, SgdOptimizer):
        return torch.optim.SGD(
            params,
            lr=spec.lr,
            momentum=spec.momentum,
            dampening=spec.dampening,
            nesterov=spec.nesterov,
            weight_decay=spec.weight_decay,
        )
    if isinstance(spec, RmspropOptimizer):
        return torch.optim.RMSprop(
            params,
            lr=spec.lr,
            alpha=spec.alpha,
            eps=spec.eps,
            momentum=spec.momentum,
            centered=spec.centered,
            weight_decay=spec.weight_decay,
        )
    if isinstance(spec, AdagradOptimizer):
        return torch.optim.Adagrad(
            params,
            lr=spec.lr,
            lr_decay=spec.lr_decay,
            eps=spec.eps,
            initial_accumulator_value=spec.initial_accumulator_value,
            weight_decay=spec.weight_decay,
        )
    if isinstance(spec, AdadeltaOptimizer):
        return torch.optim.Adadelta(
            params, lr=spec.lr, rho=spec.rho, eps=spec.eps, weight_decay=spec.weight_decay
        )
    raise TypeError(f"unknown optimizer spec {type(spec).__name__}")
