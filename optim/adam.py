"""Adam (Kingma & Ba, 2015, Algorithm 1) and AdamW."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from optim import functional
from optim._adam_family import OPTIONS_TORCH_LACKS, AdamFamily


class Adam(AdamFamily):
    r"""Adam: Algorithm 1 of Kingma & Ba, *Adam: A Method for Stochastic Optimization*
    (ICLR 2015, https://arxiv.org/abs/1412.6980), with torch.optim's conventions.

    For each parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ·θ_{t−1}                        (coupled weight decay, λ > 0)
        θ_{t−1} ← θ_{t−1}·(1 − α·λ)                  (decoupled weight decay instead)
        m_t ← β1·m_{t−1} + (1 − β1)·g_t
        v_t ← β2·v_{t−1} + (1 − β2)·g_t²
        v̂max_t ← max(v̂max_{t−1}, v_t)                if amsgrad (the running max of the raw v)
        θ_t ← θ_{t−1} − α/(1 − β1^t) · m_t / (sqrt(v_t)/sqrt(1 − β2^t) + ε)
              (with v̂max_t in place of v_t under amsgrad)

    Where this departs from the paper's Algorithm 1:

    - ε is added after the square root of the bias-corrected second moment, as in the paper,
      but the bias corrections are folded into the step size and the divisor as above (the
      paper's "efficient version", section 2), which is what torch.optim does.
    - Weight decay, AMSGrad (Reddi et al., 2018), maximize and decoupled weight decay
      (Loshchilov & Hutter, 2019) are not in the paper; all are off by default.
    - ``bias_correction=False`` drops both ``1 − β^t`` factors (the paper's section 6.4
      experiment on bias correction needs it).

    Args:
        params: parameters or param groups (dicts), as for any ``torch.optim.Optimizer``.
        lr: α, the step size (default 1e-3); a float or a one-element tensor.
        betas: (β1, β2), the decay rates of the moment estimates (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        amsgrad: use the running maximum of v_t (default False).
        decoupled_weight_decay: multiply θ by (1 − α·λ) instead of adding λ·θ to the
            gradient, which makes this AdamW (default False).
        maximize: ascend instead of descend (default False).
        bias_correction: apply the 1 − β^t corrections (default True).
        fused: ``None`` (default) picks the fastest path per tensor: a C kernel over all
            dense float32/float64 CPU tensors, a ``torch.compile``d update for CUDA tensors,
            the plain per-tensor path otherwise. ``True`` requires a fast path, ``False``
            always takes the plain one. All paths compute the same update.

    State per parameter, under torch.optim.Adam's keys, so state dicts move between this
    class and ``torch.optim.Adam`` in both directions: ``step`` (a float32 tensor),
    ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``.
    Sparse gradients raise ``RuntimeError``; complex parameters are updated as torch does,
    treating real and imaginary parts as separate real parameters.
    """

    moment_keys = ("exp_avg", "exp_avg_sq")
    options_torch_lacks = {"amsgrad": False, **OPTIONS_TORCH_LACKS}
    sparse_gradient_advice = "; use torch.optim.SparseAdam"

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        bias_correction: bool = True,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            bias_correction=bias_correction,
            fused=fused,
        )

    def _optional_moment_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("max_exp_avg_sq",) if group["amsgrad"] else ()

    def _update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        moments: dict[str, list[Tensor]],
        state_steps: list[Tensor],
    ) -> None:
        functional.adam(
            params,
            grads,
            moments["exp_avg"],
            moments["exp_avg_sq"],
            moments.get("max_exp_avg_sq", []),
            state_steps,
            amsgrad=group["amsgrad"],
            **self._hyperparameters(group),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): each step first
    multiplies θ by (1 − α·λ), then takes the Adam step on the undecayed gradient. The same
    class as :class:`Adam` with ``decoupled_weight_decay=True`` and, as in torch.optim.AdamW,
    ``weight_decay`` defaulting to 1e-2. See :class:`Adam` for the other arguments."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        bias_correction: bool = True,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=True,
            maximize=maximize,
            bias_correction=bias_correction,
            fused=fused,
        )
