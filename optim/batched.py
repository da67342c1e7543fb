"""Adam, AdamW and AdaMax for M models stacked along a leading dimension, each member with
its own hyperparameters.

A stacked parameter has shape ``[M, ...]``: member i's tensor is ``param[i]``. Every
hyperparameter is a tensor of shape ``[M]`` (``lr``, ``beta1``, ``beta2``, ``eps``,
``weight_decay``; the learning rate after the member's schedule), broadcast over each
member's slice, and ``steps`` holds each member's step count t (int64, ``[M]``), so members
that joined at different times (a resumed one) keep their own bias corrections. One call
updates all members with the same math as M separate calls of :mod:`optim.functional`:

- Adam (Kingma & Ba 2015, Algorithm 1), per member i, with g the gradient (plus λ·θ for
  coupled weight decay): ``m ← β1·m + (1 − β1)·g``, ``v ← β2·v + (1 − β2)·g²``
  (AMSGrad: ``v̂max ← max(v̂max, v)``), ``θ ← θ − α/(1 − β1^t) · m / (√v/√(1 − β2^t) + ε)``;
- AdamW: the same with ``θ ← θ·(1 − α·λ)`` first and no λ·θ in g (Loshchilov & Hutter);
- AdaMax (Algorithm 2): ``u ← max(β2·u, |g| + ε)``, ``θ ← θ − α/(1 − β1^t) · m / u``;
- SGD, the baseline, as ``torch.optim.SGD`` computes it: ``d = g + λ·θ``; with momentum
  μ > 0, ``b ← d`` at the member's first step and ``b ← μ·b + (1 − τ)·d`` after
  (τ the dampening), then ``d ← d + μ·b`` (Nesterov) or ``d ← b``; ``θ ← θ − α·d``.

The bias corrections are computed in float64 per member, as the solo path computes them in
Python floats; ``bias_correction=False`` drops them (the paper's §6.4 experiment).
torch.optim's optimizers cannot do this: a group has one scalar learning rate, so a vmapped
ensemble trained with them shares its schedule and hyperparameters across members.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["batched_adam", "batched_adamax", "batched_sgd"]


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    """``values`` ([M]) shaped to broadcast over ``like`` ([M, ...]), in its dtype. A value
    derived from a hyperparameter (1 − β) is computed in float64 before this cast, as the
    solo path computes it in a Python float: 1 − float32(β2) is not float32(1 − β2)."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def _check(params: list[Tensor], **hyper: Tensor) -> int:
    if not params:
        return 0
    members = params[0].shape[0]
    for name, value in hyper.items():
        if value.shape != (members,):
            raise ValueError(
                f"{name} must have shape [{members}] (one per member), got {list(value.shape)}"
            )
    for param in params:
        if param.shape[0] != members:
            raise ValueError(
                f"every parameter has {members} members first, got {list(param.shape)}"
            )
    return members


def _decay(
    param: Tensor, grad: Tensor, *, lr: Tensor, weight_decay: Tensor | None, decoupled: bool
) -> Tensor:
    """The gradient the moments see after weight decay (``weight_decay`` None: no member
    decays): coupled, ``g + λ·θ``; decoupled, ``θ ← θ·(1 − α·λ)`` in place and g as it is."""
    if weight_decay is None:
        return grad
    if decoupled:
        param.mul_(_per_member(1 - lr.to(torch.float64) * weight_decay.to(torch.float64), param))
        return grad
    return grad + _per_member(weight_decay, param) * param


def _start_step(
    params: list[Tensor],
    steps: Tensor,
    *,
    lr: Tensor,
    beta1: Tensor,
    beta2: Tensor,
    eps: Tensor,
    weight_decay: Tensor,
    bias_correction: bool,
) -> tuple[Tensor, Tensor | None]:
    """What both steps begin with: the shapes checked, every member's step counted, and
    α/(1 − β1^t) per member (float64), with the weight decay (None when no member decays,
    so the loop over parameters asks nothing of it)."""
    _check(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, steps=steps)
    steps += 1
    step_size = lr.to(torch.float64) / _corrections(beta1, steps, bias_correction)
    return step_size, weight_decay if bool((weight_decay != 0).any()) else None


def _corrections(beta: Tensor, steps: Tensor, enabled: bool) -> Tensor:
    """``1 − β^t`` per member, in float64 (ones without bias correction)."""
    if not enabled:
        return torch.ones_like(beta, dtype=torch.float64)
    return 1 - beta.to(torch.float64) ** steps.to(torch.float64)


@torch.no_grad()
def batched_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: Tensor,
    *,
    lr: Tensor,
    beta1: Tensor,
    beta2: Tensor,
    eps: Tensor,
    weight_decay: Tensor,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = True,
) -> None:
    """One Adam (AdamW with ``decoupled_weight_decay``) step of every member, in place;
    ``steps`` is incremented first, as the solo path does."""
    step_size, decay = _start_step(
        params, steps, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        bias_correction=bias_correction,
    )  # fmt: skip
    correction2_sqrt = _corrections(beta2, steps, bias_correction).sqrt()
    for i, param in enumerate(params):
        grad = _decay(param, grads[i], lr=lr, weight_decay=decay, decoupled=decoupled_weight_decay)
        exp_avg, exp_avg_sq = exp_avgs[i], exp_avg_sqs[i]
        exp_avg.lerp_(grad, _per_member(1 - beta1.to(torch.float64), param))
        exp_avg_sq.mul_(_per_member(beta2, param)).addcmul_(
            grad, grad * _per_member(1 - beta2.to(torch.float64), param)
        )
        second = exp_avg_sq
        if amsgrad:
            torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            second = max_exp_avg_sqs[i]
        denom = (second.sqrt() / _per_member(correction2_sqrt, param)).add_(_per_member(eps, param))
        param.sub_(_per_member(step_size, param) * (exp_avg / denom))


@torch.no_grad()
def batched_adamax(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_infs: list[Tensor],
    steps: Tensor,
    *,
    lr: Tensor,
    beta1: Tensor,
    beta2: Tensor,
    eps: Tensor,
    weight_decay: Tensor,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = True,
) -> None:
    """One AdaMax step of every member, in place; ``steps`` is incremented first."""
    step_size, decay = _start_step(
        params, steps, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        bias_correction=bias_correction,
    )  # fmt: skip
    for i, param in enumerate(params):
        grad = _decay(param, grads[i], lr=lr, weight_decay=decay, decoupled=decoupled_weight_decay)
        exp_avg, exp_inf = exp_avgs[i], exp_infs[i]
        exp_avg.lerp_(grad, _per_member(1 - beta1.to(torch.float64), param))
        torch.maximum(
            exp_inf.mul_(_per_member(beta2, param)),
            grad.abs().add_(_per_member(eps, param)),
            out=exp_inf,
        )
        param.sub_(_per_member(step_size, param) * (exp_avg / exp_inf))


@torch.no_grad()
def batched_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor],
    steps: Tensor,
    *,
    lr: Tensor,
    momentum: Tensor,
    dampening: Tensor,
    weight_decay: Tensor,
    nesterov: bool = False,
) -> None:
    """One SGD step of every member, in place; ``steps`` counts each member's steps (a
    member's first step starts its momentum buffer at d, as torch's does). A member with
    μ = 0 steps along d and leaves its buffer untouched; ``momentum_buffers`` may be empty
    when no member has momentum."""
    _check(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    _check(params, steps=steps)
    first = steps == 0
    steps += 1
    decays = bool((weight_decay != 0).any())
    with_momentum = momentum > 0
    for i, param in enumerate(params):
        direction = grads[i]
        if decays:
            direction = direction + _per_member(weight_decay, param) * param
        if bool(with_momentum.any()):
            buffer = momentum_buffers[i]
            mu = _per_member(momentum, param)
            running = buffer * mu + direction * _per_member(1 - dampening.to(torch.float64), param)
            started = torch.where(_per_member(first, param).bool(), direction, running)
            uses = _per_member(with_momentum, param).bool()
            buffer.copy_(torch.where(uses, started, buffer))
            moved = direction + mu * buffer if nesterov else buffer
            direction = torch.where(uses, moved, direction)
        param.sub_(_per_member(lr, param) * direction)
