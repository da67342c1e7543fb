"""AdaMax (Kingma & Ba, 2015, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from optim import functional
from optim._adam_family import OPTIONS_TORCH_LACKS, AdamFamily


class AdaMax(AdamFamily):
    r"""AdaMax: Algorithm 2 of Kingma & Ba, *Adam: A Method for Stochastic Optimization*
    (ICLR 2015, https://arxiv.org/abs/1412.6980), Adam with the infinity norm in place of
    the second moment, with torch.optim.Adamax's conventions.

    For each parameter θ with gradient g_t at step t = 1, 2, ...::

        g_t ← −g_t                                   if maximize
        g_t ← g_t + λ·θ_{t−1}                        (coupled weight decay, λ > 0)
        θ_{t−1} ← θ_{t−1}·(1 − α·λ)                  (decoupled weight decay instead)
        m_t ← β1·m_{t−1} + (1 − β1)·g_t
        u_t ← max(β2·u_{t−1}, |g_t| + ε)
        θ_t ← θ_{t−1} − α/(1 − β1^t) · m_t / u_t

    Where this departs from the paper's Algorithm 2:

    - ε sits inside the max (torch's choice): the paper has u_t ← max(β2·u_{t−1}, |g_t|)
      and no ε at all, so a parameter whose gradients have all been zero would divide 0 by 0.
    - Only m is bias-corrected; u needs no correction (as in the paper).
      ``bias_correction=False`` drops the 1 − β1^t factor too.
    - Weight decay, maximize and decoupled weight decay are not in the paper; all are off by
      default. ``torch.optim.Adamax`` has no decoupled weight decay.

    Args:
        params: parameters or param groups (dicts), as for any ``torch.optim.Optimizer``.
        lr: α, the step size (default 2e-3, the paper's); a float or a one-element tensor.
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        decoupled_weight_decay: multiply θ by (1 − α·λ) instead of adding λ·θ to the
            gradient (default False).
        maximize: ascend instead of descend (default False).
        bias_correction: apply the 1 − β1^t correction (default True).
        fused: as for :class:`optim.Adam`: ``None`` picks the fastest path per tensor,
            ``True`` requires a fast path, ``False`` takes the plain one.

    State per parameter, under torch.optim.Adamax's keys: ``step`` (a float32 tensor),
    ``exp_avg`` (m) and ``exp_inf`` (u). Sparse gradients raise ``RuntimeError``; complex
    parameters are updated as torch does, part by part.
    """

    moment_keys = ("exp_avg", "exp_inf")
    options_torch_lacks = OPTIONS_TORCH_LACKS

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
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
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            bias_correction=bias_correction,
            fused=fused,
        )

    def _update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        moments: dict[str, list[Tensor]],
        state_steps: list[Tensor],
    ) -> None:
        functional.adamax(
            params,
            grads,
            moments["exp_avg"],
            moments["exp_inf"],
            state_steps,
            **self._hyperparameters(group),
        )


Adamax = AdaMax
