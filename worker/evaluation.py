"""The loss a run trains on and the full-pass evaluation at an epoch's end.

classification: cross-entropy of the logits, accuracy = share of argmax == target;
regression: mean squared error (reported as ``<split>_mse``); generative (the VAE): the
negative ELBO per example in nats (``negative_elbo``; the split's mean ELBO is reported as
``<split>_elbo``), its target the input itself. The objective adds λ‖Θ‖² (``l2_penalty``)
to the task's loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.spec import Task
from worker.devices import DeviceSplit

EVAL_BATCH_SIZE = 1000


def loss_targets(task: Task, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """What the loss compares the outputs with: the split's targets, or for a generative
    model its flattened input (the labels are unused)."""
    return inputs.flatten(1) if task == "generative" else targets


def negative_elbo(
    logits: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, inputs: torch.Tensor
) -> torch.Tensor:
    """−ELBO of each example (shape (N,)), in nats, for a Bernoulli decoder with ``logits``
    and a diagonal Gaussian q(z|x) = N(``mean``, exp(``log_var``)) against the prior N(0, I):

        −ELBO = −Σ_d [x_d·log σ(l_d) + (1 − x_d)·log(1 − σ(l_d))]
                − ½·Σ_j (1 + log σ_j² − μ_j² − σ_j²)

    (the reconstruction term of one sample of z, then the KL divergence in closed form,
    Kingma & Welling 2014, appendix B). ``inputs`` (N, D) in [0, 1] may be grey levels."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, inputs, reduction="none").sum(1)
    kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1)
    return reconstruction + kl


def task_loss(task: Task, outputs: Any, targets: torch.Tensor, *, reduction: str) -> torch.Tensor:
    """Cross-entropy for classification, MSE for regression, the negative ELBO for a
    generative model (``outputs`` its ``VaeOutput``), reduced by ``reduction``."""
    if task == "classification":
        return F.cross_entropy(outputs, targets, reduction=reduction)
    if task == "generative":
        per_example = negative_elbo(outputs.logits, outputs.mean, outputs.log_var, targets)
        return per_example.sum() if reduction == "sum" else per_example.mean()
    return F.mse_loss(outputs, targets, reduction=reduction)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """‖Θ‖² = Σ over all parameters of the sum of their squared entries."""
    return torch.stack([p.pow(2).sum() for p in model.parameters()]).sum()


@torch.no_grad()
def evaluate_split(
    model: nn.Module, split: DeviceSplit, *, task: Task, device: torch.device, prefix: str
) -> dict[str, torch.Tensor]:
    """Mean loss (and accuracy) over ``split`` in eval mode, left on the device; the model
    is back in train mode afterwards. A generative model's is its mean ELBO, −(−ELBO)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, len(split), EVAL_BATCH_SIZE):
        inputs, targets = split.slice(start, start + EVAL_BATCH_SIZE, device)
        outputs = model(inputs)
        loss_sum += task_loss(task, outputs, loss_targets(task, inputs, targets), reduction="sum")
        if task == "classification":
            correct += (outputs.argmax(dim=1) == targets).sum()
    model.train()
    if task == "regression":
        return {f"{prefix}_mse": loss_sum / len(split)}
    if task == "generative":
        return {f"{prefix}_elbo": -loss_sum / len(split)}
    accuracy = correct.to(torch.float64) / len(split)
    return {f"{prefix}_loss": loss_sum / len(split), f"{prefix}_acc": accuracy}


def evaluate_epoch(
    model: nn.Module,
    *,
    task: Task,
    device: torch.device,
    train: DeviceSplit,
    validation: DeviceSplit | None,
    test: DeviceSplit | None,
) -> dict[str, torch.Tensor]:
    """The full passes at an epoch's end (``evaluate_split``): the training split for a
    regression (its MSE), then the validation and the test split where there are."""
    measured: dict[str, torch.Tensor] = {}
    if task == "regression":
        measured |= evaluate_split(model, train, task=task, device=device, prefix="train")
    if validation is not None:
        measured |= evaluate_split(model, validation, task=task, device=device, prefix="val")
    if test is not None:
        measured |= evaluate_split(model, test, task=task, device=device, prefix="test")
    return measured


def line_parameters(model: nn.Module) -> dict[str, float]:
    """w and b of a one-input linear regression."""
    linear = getattr(model, "linear", None)
    if not isinstance(linear, nn.Linear) or linear.weight.numel() != 1:
        return {}
    return {"w": linear.weight.detach().item(), "b": linear.bias.detach().item()}
