"""The math of Adam and AdaMax as functions over lists of tensors.

The optimizer classes keep the bookkeeping (param groups, lazy state); everything here takes
lists of tensors and keyword-only hyperparameters and updates them in place. Adam and AdaMax
are built from the same primitives (:func:`bias_correction_term`, :func:`apply_weight_decay`,
:func:`update_first_moment`), in the way optax's ``scale_by_adamax`` reuses the pieces of
``scale_by_adam``.

Three implementations compute the same update:

- the plain path below: one tensor at a time, in torch ops, in the order torch.optim's
  for-loop implementation uses (it is the reference the others are tested against, and the
  path taken while ``torch.compile`` traces a step);
- :mod:`optim._cpu_kernel`: one C loop over all tensors of a group on the CPU, reading
  p, g, m, v and writing p, m, v once (a C extension, built from ``optim/csrc``);
- :mod:`optim._compiled`: a ``torch.compile``d update, used for CUDA tensors.

:data:`BACKENDS` names them; :func:`optim._dispatch.partition` sorts a group's parameters
into buckets, each updated by one call of one backend (``fused=None``: the C kernel for dense
float32/float64 CPU tensors when the extension is built, the compiled update for CUDA
tensors, the plain path otherwise).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from optim import _compiled, _cpu_kernel
from optim._dispatch import Backend, Path, partition

__all__ = [
    "adam",
    "adamax",
    "apply_weight_decay",
    "bias_correction_term",
    "update_first_moment",
    "update_infinity_norm",
    "update_second_moment",
]


def bias_correction_term(beta: float | Tensor, step: float | Tensor, *, enabled: bool = True):
    """``1 - beta**step``, the factor that removes the zero-initialisation bias of a moment
    estimate after ``step`` updates; ``1.0`` when ``enabled`` is false (the paper's
    experiment without bias correction)."""
    if not enabled:
        return 1.0
    return 1 - beta**step


def apply_weight_decay(
    param: Tensor,
    grad: Tensor,
    *,
    lr: float | Tensor,
    weight_decay: float,
    decoupled: bool,
) -> Tensor:
    """Apply weight decay λ and return the gradient the moments should see.

    Coupled (L2, as in the paper's experiments): ``g ← g + λ·θ``; ``param`` is unchanged.
    Decoupled (Loshchilov & Hutter's AdamW): ``θ ← θ·(1 − lr·λ)`` in place; ``g`` unchanged.
    """
    if weight_decay == 0:
        return grad
    if decoupled:
        param.mul_(1 - lr * weight_decay)
        return grad
    return grad.add(param, alpha=weight_decay)


def update_first_moment(exp_avg: Tensor, grad: Tensor, *, beta1: float) -> None:
    """``m ← β1·m + (1 − β1)·g`` in place (written as a lerp, as torch does)."""
    exp_avg.lerp_(grad, 1 - beta1)


def update_second_moment(exp_avg_sq: Tensor, grad: Tensor, *, beta2: float) -> None:
    """``v ← β2·v + (1 − β2)·g²`` in place."""
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)


def update_infinity_norm(exp_inf: Tensor, grad: Tensor, *, beta2: float, eps: float) -> None:
    """``u ← max(β2·u, |g| + ε)`` in place (AdaMax; ε inside the max, as torch)."""
    torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)


def _step_value(step_t: Tensor) -> float | Tensor:
    # A Python float in eager mode (double-precision bias corrections, as torch.optim); while
    # torch.compile traces, a float64 tensor: the step count must not become a constant of
    # the graph, and 1 − β2^t computed in float32 would be off by up to 1e-4 relative at t=1.
    return step_t.to(torch.float64) if torch.compiler.is_compiling() else step_t.item()


def _lr_value(lr: float | Tensor) -> float | Tensor:
    if isinstance(lr, Tensor) and not torch.compiler.is_compiling():
        return lr.item()
    return lr


def _plain_adam(
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
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
    bias_correction: bool,
) -> None:
    lr = _lr_value(lr)
    for i, param in enumerate(params):
        grad = -grads[i] if maximize else grads[i]
        exp_avg, exp_avg_sq = exp_avgs[i], exp_avg_sqs[i]
        state_steps[i] += 1
        step = _step_value(state_steps[i])

        grad = apply_weight_decay(
            param, grad, lr=lr, weight_decay=weight_decay, decoupled=decoupled_weight_decay
        )
        if torch.is_complex(param):
            param, grad = torch.view_as_real(param), torch.view_as_real(grad)
            exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)

        update_first_moment(exp_avg, grad, beta1=beta1)
        update_second_moment(exp_avg_sq, grad, beta2=beta2)
        second_moment = exp_avg_sq
        if amsgrad:
            max_exp_avg_sq = max_exp_avg_sqs[i]
            if torch.is_complex(max_exp_avg_sq):
                max_exp_avg_sq = torch.view_as_real(max_exp_avg_sq)
            torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second_moment = max_exp_avg_sq

        step_size = lr / bias_correction_term(beta1, step, enabled=bias_correction)
        bias_correction2 = bias_correction_term(beta2, step, enabled=bias_correction)
        bias_correction2_sqrt = (
            bias_correction2.sqrt()
            if isinstance(bias_correction2, Tensor)
            else math.sqrt(bias_correction2)
        )
        denom = (second_moment.sqrt() / bias_correction2_sqrt).add_(eps)
        if isinstance(step_size, Tensor):
            param.sub_(step_size * (exp_avg / denom))
        else:
            param.addcdiv_(exp_avg, denom, value=-step_size)


def _plain_adamax(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_infs: list[Tensor],
    state_steps: list[Tensor],
    *,
    beta1: float,
    beta2: float,
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
    bias_correction: bool,
) -> None:
    lr = _lr_value(lr)
    for i, param in enumerate(params):
        grad = -grads[i] if maximize else grads[i]
        exp_avg, exp_inf = exp_avgs[i], exp_infs[i]
        state_steps[i] += 1
        step = _step_value(state_steps[i])

        grad = apply_weight_decay(
            param, grad, lr=lr, weight_decay=weight_decay, decoupled=decoupled_weight_decay
        )
        if torch.is_complex(param):
            param, grad = torch.view_as_real(param), torch.view_as_real(grad)
            exp_avg, exp_inf = torch.view_as_real(exp_avg), torch.view_as_real(exp_inf)

        update_first_moment(exp_avg, grad, beta1=beta1)
        update_infinity_norm(exp_inf, grad, beta2=beta2, eps=eps)

        step_size = lr / bias_correction_term(beta1, step, enabled=bias_correction)
        if isinstance(step_size, Tensor):
            param.sub_(step_size * (exp_avg / exp_inf))
        else:
            param.addcdiv_(exp_avg, exp_inf, value=-step_size)


BACKENDS: dict[Path, Backend] = {
    Path.PLAIN: Backend(adam=_plain_adam, adamax=_plain_adamax, lr_as_float=False),
    Path.CPU_KERNEL: Backend(adam=_cpu_kernel.adam, adamax=_cpu_kernel.adamax, lr_as_float=True),
    Path.COMPILED: Backend(adam=_compiled.adam, adamax=_compiled.adamax, lr_as_float=True),
}


def _lr_for(backend: Backend, lr: float | Tensor) -> float | Tensor:
    return float(lr) if backend.lr_as_float else lr


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
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = True,
    fused: bool | None = None,
) -> None:
    """One Adam step, in place, over parallel lists (``max_exp_avg_sqs`` may be empty
    unless ``amsgrad``). See :class:`optim.Adam` for the update rule.

    ``fused``: ``None`` picks the fastest path per tensor, ``True`` requires a fast path
    (``RuntimeError`` where none applies), ``False`` takes the plain path. While
    ``torch.compile`` traces the step, the plain path is taken: the compiler fuses it.
    """
    columns = [params, grads, exp_avgs, exp_avg_sqs] + ([max_exp_avg_sqs] if amsgrad else [])
    hyperparameters = dict(
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
        bias_correction=bias_correction,
    )
    for bucket in partition(columns, fused):
        backend = BACKENDS[bucket.path]
        backend.adam(
            bucket.take(params),
            bucket.take(grads),
            bucket.take(exp_avgs),
            bucket.take(exp_avg_sqs),
            bucket.take(max_exp_avg_sqs) if amsgrad else [],
            bucket.take(state_steps),
            amsgrad=amsgrad,
            lr=_lr_for(backend, lr),
            **hyperparameters,
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
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = True,
    fused: bool | None = None,
) -> None:
    """One AdaMax step, in place, over parallel lists. See :class:`optim.AdaMax` for the
    update rule and :func:`adam` for ``fused``."""
    columns = [params, grads, exp_avgs, exp_infs]
    hyperparameters = dict(
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
        bias_correction=bias_correction,
    )
    for bucket in partition(columns, fused):
        backend = BACKENDS[bucket.path]
        backend.adamax(
            bucket.take(params),
            bucket.take(grads),
            bucket.take(exp_avgs),
            bucket.take(exp_infs),
            bucket.take(state_steps),
            lr=_lr_for(backend, lr),
            **hyperparameters,
        )
