"""Checks shared by the optimizers' constructors: each bad value raises ``ValueError`` naming
the argument and the value (``not 0.0 <= x`` is also true for NaN)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from torch import Tensor


def _number(name: str, value: object) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must be a number or a one-element tensor, got shape {tuple(value.shape)}"
            )
        return value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_hyperparameters(*, lr: object, betas: object, eps: object, weight_decay: object) -> None:
    lr_value = _number("lr", lr)
    if not 0.0 <= lr_value < math.inf:
        raise ValueError(f"Invalid learning rate: lr={lr_value} (must be finite and >= 0)")
    eps_value = _number("eps", eps)
    if not 0.0 <= eps_value < math.inf:
        raise ValueError(f"Invalid epsilon: eps={eps_value} (must be finite and >= 0)")
    weight_decay_value = _number("weight_decay", weight_decay)
    if not 0.0 <= weight_decay_value < math.inf:
        raise ValueError(
            f"Invalid weight decay: weight_decay={weight_decay_value} (must be finite and >= 0)"
        )
    pair = cast(Sequence[object], betas) if isinstance(betas, tuple | list) else None
    if pair is None or len(pair) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(pair):
        beta_value = _number(f"betas[{index}]", beta)
        if not 0.0 <= beta_value < 1.0:
            raise ValueError(
                f"Invalid beta parameter: betas[{index}]={beta_value} (must be in [0, 1))"
            )
