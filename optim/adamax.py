"""AdaMax (Kingma & Ba, 2015, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from optim import functional
from optim._validation import check_hyperparameters


def _scalar(value: float | Tensor) -> float:
    return value.item() if isinstance(value, Tensor) else float(value)


class AdaMax(torch.optim.Optimizer):
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
        check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        defaults = {
            "lr": lr,
            "betas": (_scalar(betas[0]), _scalar(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "bias_correction": bias_correction,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (as torch), checking the hyperparameters it sets for itself."""
        check_hyperparameters(
            **{
                name: param_group.get(name, self.defaults[name])
                for name in ("lr", "betas", "eps", "weight_decay")
            }
        )
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Also called by load_state_dict: groups saved by torch.optim.Adamax lack our keys.
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("maximize", False)
            group.setdefault("bias_correction", True)
            group.setdefault("fused", None)

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_infs: list[Tensor],
        state_steps: list[Tensor],
    ) -> None:
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients "
                    f"(parameter of shape {tuple(p.shape)})"
                )
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_inf"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            step = state["step"]
            if step.dtype != torch.float32 or not step.is_cpu:
                step = state["step"] = step.to(dtype=torch.float32, device="cpu")
            params.append(p)
            grads.append(grad)
            exp_avgs.append(state["exp_avg"])
            exp_infs.append(state["exp_inf"])
            state_steps.append(step)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the
        loss (it runs with gradients enabled)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            exp_avgs: list[Tensor] = []
            exp_infs: list[Tensor] = []
            state_steps: list[Tensor] = []
            self._init_group(group, params, grads, exp_avgs, exp_infs, state_steps)
            beta1, beta2 = group["betas"]
            functional.adamax(
                params,
                grads,
                exp_avgs,
                exp_infs,
                state_steps,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=group["maximize"],
                decoupled_weight_decay=group["decoupled_weight_decay"],
                bias_correction=group["bias_correction"],
                fused=group["fused"],
            )
        return loss


Adamax = AdaMax
