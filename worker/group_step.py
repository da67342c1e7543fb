"""One batched optimizer step of a group's members, each with its own hyperparameters:
the ``[M]`` columns of the members' specs (``hyperparameter_columns``) and the call of
``optim.batched``'s Adam, AdamW, AdaMax or SGD over the stack (``step_members``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from core.spec import ExperimentSpec
from core.spec.optimizers import AdamFamilyOptimizer, OptimizerVariant, SgdOptimizer
from optim.batched import batched_adam, batched_adamax, batched_sgd
from worker.member_stack import MemberStack, joined

FLAT_STEP_MAX_ELEMENTS = 2**20
"""Up to this many parameters in the whole stack (4 MB in fp32), a step joins the gradients
and updates ``flat`` at once: the copy costs less than a step's operations per tensor
(``benchmarks/batched.py``: the 1.8 M-parameter MLP is slower stepped whole)."""


def _adam_family(spec: ExperimentSpec) -> AdamFamilyOptimizer:
    """The spec's optimizer, which ``group_problem`` has checked is of the Adam family."""
    assert isinstance(spec.optimizer, AdamFamilyOptimizer), spec.optimizer.name
    return spec.optimizer


def _sgd(spec: ExperimentSpec) -> SgdOptimizer:
    """The spec's optimizer, which the group's kind says is SGD."""
    assert isinstance(spec.optimizer, SgdOptimizer), spec.optimizer.name
    return spec.optimizer


def hyperparameter_columns(specs: Sequence[ExperimentSpec]) -> dict[str, torch.Tensor]:
    """Each per-member hyperparameter as a float64 column ``[M]`` in the specs' order: l2,
    and SGD's momentum, dampening and weight decay or the Adam family's betas, eps and
    weight decay (the group's optimizer kind is shared)."""

    def column(read: Callable[[ExperimentSpec], float]) -> torch.Tensor:
        return torch.tensor([read(s) for s in specs], dtype=torch.float64)

    columns = {"l2": column(lambda s: s.l2)}
    if specs[0].optimizer.name == "sgd":
        return columns | {
            "momentum": column(lambda s: _sgd(s).momentum),
            "dampening": column(lambda s: _sgd(s).dampening),
            "weight_decay": column(lambda s: _sgd(s).weight_decay),
        }
    return columns | {
        "beta1": column(lambda s: _adam_family(s).betas[0]),
        "beta2": column(lambda s: _adam_family(s).betas[1]),
        "eps": column(lambda s: _adam_family(s).eps),
        "weight_decay": column(lambda s: _adam_family(s).weight_decay),
    }


def step_members(
    stack: MemberStack,
    hyper: dict[str, torch.Tensor],
    optimizer: OptimizerVariant,
    grads: list[torch.Tensor],
    lr: torch.Tensor,
) -> None:
    """One batched step of every member: of ``flat`` whole (the gradients joined) when
    the stack is small, else of each parameter's view."""
    name = optimizer.name
    if stack.flat.numel() <= FLAT_STEP_MAX_ELEMENTS:
        params = [stack.flat]
        grads = [joined(grads, stack.shapes)]
        moments = {key: [flat] for key, flat in stack.flat_moments.items()}
    else:
        params, moments = stack.tensors, stack.moments
    if name == "sgd":
        batched_sgd(
            params, grads, moments["momentum_buffer"], stack.steps, lr=lr,
            momentum=hyper["momentum"], dampening=hyper["dampening"],
            weight_decay=hyper["weight_decay"],
            nesterov=getattr(optimizer, "nesterov", False),
        )  # fmt: skip
        return
    common = {
        "lr": lr,
        "beta1": hyper["beta1"],
        "beta2": hyper["beta2"],
        "eps": hyper["eps"],
        "weight_decay": hyper["weight_decay"],
        "bias_correction": getattr(optimizer, "bias_correction", True),
    }
    if name == "adamax":
        batched_adamax(params, grads, moments["exp_avg"], moments["exp_inf"], stack.steps, **common)
        return
    amsgrad = "max_exp_avg_sq" in moments
    batched_adam(
        params, grads, moments["exp_avg"], moments["exp_avg_sq"],
        moments["max_exp_avg_sq"] if amsgrad else [], stack.steps,
        amsgrad=amsgrad, decoupled_weight_decay=name == "adamw", **common,
    )  # fmt: skip
