"""The loss a run trains on and the full-pass evaluation at an epoch's end.

classification: cross-entropy of the logits, accuracy = share of argmax == target;
regression: mean squared error (reported as ``<split>_mse``); the objective adds λ‖Θ‖²
(``l2_penalty``) to the task's loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.spec import Task
from worker.devices import DeviceSplit

EVAL_BATCH_SIZE = 1000


def task_loss(
    task: Task, outputs: torch.Tensor, targets: torch.Tensor, *, reduction: str
) -> torch.Tensor:
    """Cross-entropy for classification, MSE for regression, reduced by ``reduction``."""
    if task == "classification":
        return F.cross_entropy(outputs, targets, reduction=reduction)
    return F.mse_loss(outputs, targets, reduction=reduction)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """‖Θ‖² = Σ over all parameters of the sum of their squared entries."""
    return torch.stack([p.pow(2).sum() for p in model.parameters()]).sum()


@torch.no_grad()
def evaluate_split(
    model: nn.Module, split: DeviceSplit, *, task: Task, device: torch.device, prefix: str
) -> dict[str, torch.Tensor]:
    """Mean loss (and accuracy) over ``split`` in eval mode, left on the device; the model
    is back in train mode afterwards."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, len(split), EVAL_BATCH_SIZE):
        inputs, targets = split.slice(start, start + EVAL_BATCH_SIZE, device)
        outputs = model(inputs)
        loss_sum += task_loss(task, outputs, targets, reduction="sum")
        if task == "classification":
            correct += (outputs.argmax(dim=1) == targets).sum()
    model.train()
    if task == "regression":
        return {f"{prefix}_mse": loss_sum / len(split)}
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
