"""The accelerator fast path: a ``torch.compile``d update (inductor emits one fused kernel per
tensor, reading p, g, m, v once and writing p, m, v once).

Everything that changes from step to step enters the compiled function as a tensor, never as
a Python number, so a learning-rate schedule or a growing step count never recompiles:

- per tensor, ``coefficients[i] = (−lr/(1 − β1^t), sqrt(1 − β2^t))``, computed in float64
  outside the compiled region (one vectorised op over all step counters; inside, inductor
  would recompute the powers for every element);
- per group, ``hyper = (1 − β1, β2, 1 − β2, ε, λ, 1 − lr·λ)`` as a float64 tensor.

Only the layout (number, shapes and dtypes of the tensors) and the boolean switches
(amsgrad, maximize, the kind of weight decay) are guarded on. Past torch's recompile limit,
dynamo runs the same function eagerly, which is slower but computes the same update.

This path is chosen for CUDA tensors. It is not verified on a GPU in this repository's test
suite (there is none here); ``tests/optim`` checks the same function on the CPU against the
plain path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

HYPER_ONE_MINUS_BETA1 = 0
HYPER_BETA2 = 1
HYPER_ONE_MINUS_BETA2 = 2
HYPER_EPS = 3
HYPER_WEIGHT_DECAY = 4
HYPER_DECAY = 5


def _decay_or_regularize(
    param: Tensor, grad: Tensor, hyper: Tensor, *, weight_decay_mode: str
) -> tuple[Tensor, Tensor]:
    if weight_decay_mode == "decoupled":
        return param * hyper[HYPER_DECAY].to(param.dtype), grad
    if weight_decay_mode == "coupled":
        return param, grad + hyper[HYPER_WEIGHT_DECAY].to(param.dtype) * param
    return param, grad


def _adam_update(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    coefficients: Tensor,
    hyper: Tensor,
    amsgrad: bool,
    maximize: bool,
    weight_decay_mode: str,
) -> None:
    for i, param in enumerate(params):
        dtype = param.dtype
        grad = -grads[i] if maximize else grads[i]
        param_value, grad = _decay_or_regularize(
            param, grad, hyper, weight_decay_mode=weight_decay_mode
        )
        exp_avg = torch.lerp(exp_avgs[i], grad, hyper[HYPER_ONE_MINUS_BETA1].to(dtype))
        exp_avg_sq = (
            exp_avg_sqs[i] * hyper[HYPER_BETA2].to(dtype)
            + hyper[HYPER_ONE_MINUS_BETA2].to(dtype) * grad * grad
        )
        second_moment = exp_avg_sq
        if amsgrad:
            second_moment = torch.maximum(max_exp_avg_sqs[i], exp_avg_sq)
            max_exp_avg_sqs[i].copy_(second_moment)
        denom = second_moment.sqrt() / coefficients[i, 1].to(dtype) + hyper[HYPER_EPS].to(dtype)
        param.copy_(param_value + coefficients[i, 0].to(dtype) * (exp_avg / denom))
        exp_avgs[i].copy_(exp_avg)
        exp_avg_sqs[i].copy_(exp_avg_sq)


def _adamax_update(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_infs: list[Tensor],
    coefficients: Tensor,
    hyper: Tensor,
    maximize: bool,
    weight_decay_mode: str,
) -> None:
    for i, param in enumerate(params):
        dtype = param.dtype
        grad = -grads[i] if maximize else grads[i]
        param_value, grad = _decay_or_regularize(
            param, grad, hyper, weight_decay_mode=weight_decay_mode
        )
        exp_avg = torch.lerp(exp_avgs[i], grad, hyper[HYPER_ONE_MINUS_BETA1].to(dtype))
        exp_inf = torch.maximum(
            exp_infs[i] * hyper[HYPER_BETA2].to(dtype), grad.abs() + hyper[HYPER_EPS].to(dtype)
        )
        param.copy_(param_value + coefficients[i, 0].to(dtype) * (exp_avg / exp_inf))
        exp_avgs[i].copy_(exp_avg)
        exp_infs[i].copy_(exp_inf)


@functools.cache
def _compiled(update: Callable[..., None]) -> Callable[..., None]:
    # Compiled on first use, so that importing optim does not import dynamo. (torch.compile's
    # overloads mention callables of unknown return type, which strict checking reports.)
    return torch.compile(update, fullgraph=True)  # pyright: ignore[reportUnknownMemberType]


def _coefficients(
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    bias_correction: bool,
    device: torch.device,
) -> Tensor:
    """Increment the step counters; per tensor ``(−lr/(1 − β1^t), sqrt(1 − β2^t))`` in float64."""
    # One op over all counters; torch.optim's own optimizers use it too.
    torch._foreach_add_(state_steps, 1)  # pyright: ignore[reportPrivateUsage, reportPrivateImportUsage]
    steps = torch.stack([s.reshape(()) for s in state_steps]).to(torch.float64)
    if bias_correction:
        bias_correction1 = 1 - beta1**steps
        bias_correction2_sqrt = (1 - beta2**steps).sqrt()
    else:
        bias_correction1 = torch.ones_like(steps)
        bias_correction2_sqrt = torch.ones_like(steps)
    coefficients = torch.stack([-lr / bias_correction1, bias_correction2_sqrt], dim=1)
    return coefficients.to(device, non_blocking=True)


def _hyper(
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    device: torch.device,
) -> Tensor:
    values = [1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay]
    return torch.tensor(values, dtype=torch.float64).to(device, non_blocking=True)


def _weight_decay_mode(weight_decay: float, decoupled: bool) -> str:
    if weight_decay == 0:
        return "none"
    return "decoupled" if decoupled else "coupled"


def adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
    bias_correction: bool,
) -> None:
    """One Adam step through the compiled update; all tensors on one device."""
    if not params:
        return
    device = params[0].device
    coefficients = _coefficients(
        state_steps, lr=lr, beta1=beta1, beta2=beta2, bias_correction=bias_correction, device=device
    )
    hyper = _hyper(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, device=device
    )
    _compiled(_adam_update)(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs if amsgrad else [],
        coefficients,
        hyper,
        amsgrad,
        maximize,
        _weight_decay_mode(weight_decay, decoupled_weight_decay),
    )


def adamax(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_infs: list[Tensor],
    state_steps: list[Tensor],
    *,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
    bias_correction: bool,
) -> None:
    """One AdaMax step through the compiled update; all tensors on one device."""
    if not params:
        return
    device = params[0].device
    coefficients = _coefficients(
        state_steps, lr=lr, beta1=beta1, beta2=beta2, bias_correction=bias_correction, device=device
    )
    hyper = _hyper(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, device=device
    )
    _compiled(_adamax_update)(
        params,
        grads,
        exp_avgs,
        exp_infs,
        coefficients,
        hyper,
        maximize,
        _weight_decay_mode(weight_decay, decoupled_weight_decay),
    )
